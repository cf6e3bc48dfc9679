"""Shapes of the 121 UCI sets of Fernandez-Delgado et al. (2014): the rehearsal writes files of
these shapes, and the KEEL audit compares the KEEL copies with them.

``name: (examples, features, classes, test)``: ``test`` is the size of the set's fixed test file
(``<set>_test_R.dat``; the training file then holds ``examples - test`` rows) or 0 for sets that
come with the four-fold files. Sizes follow the paper's table of data sets (patterns, inputs,
classes) as far as it is known here; the rehearsal needs the orders of magnitude (the largest
set, miniboone, has 130,064 rows of 50 features; plant-* have 100 classes), not every digit.
"""

from __future__ import annotations

_TABLE = """
abalone 4177 8 3 0
acute-inflammation 120 6 2 0
acute-nephritis 120 6 2 0
adult 48842 14 2 16281
annealing 898 31 5 100
arrhythmia 452 262 13 0
audiology-std 196 59 18 25
balance-scale 625 4 3 0
balloons 16 4 2 0
bank 4521 16 2 0
blood 748 4 2 0
breast-cancer 286 9 2 0
breast-cancer-wisc 699 9 2 0
breast-cancer-wisc-diag 569 30 2 0
breast-cancer-wisc-prog 198 33 2 0
breast-tissue 106 9 6 0
car 1728 6 4 0
cardiotocography-10clases 2126 21 10 0
cardiotocography-3clases 2126 21 3 0
chess-krvk 28056 6 18 0
chess-krvkp 3196 36 2 0
congressional-voting 435 16 2 0
conn-bench-sonar-mines-rocks 208 60 2 0
conn-bench-vowel-deterding 990 11 11 462
connect-4 67557 42 2 0
contrac 1473 9 3 0
credit-approval 690 15 2 0
cylinder-bands 512 35 2 0
dermatology 366 34 6 0
echocardiogram 131 10 2 0
ecoli 336 7 8 0
energy-y1 768 8 3 0
energy-y2 768 8 3 0
fertility 100 9 2 0
flags 194 28 8 0
glass 214 9 6 0
haberman-survival 306 3 2 0
hayes-roth 160 3 3 28
heart-cleveland 303 13 5 0
heart-hungarian 294 12 2 0
heart-switzerland 123 12 5 0
heart-va 200 12 5 0
hepatitis 155 19 2 0
hill-valley 1212 100 2 606
horse-colic 368 25 2 68
ilpd-indian-liver 583 9 2 0
image-segmentation 2310 18 7 2100
ionosphere 351 33 2 0
iris 150 4 3 0
led-display 1000 7 10 0
lenses 24 4 3 0
letter 20000 16 26 0
libras 360 90 15 0
low-res-spect 531 100 9 0
lung-cancer 32 56 3 0
lymphography 148 18 4 0
magic 19020 10 2 0
mammographic 961 5 2 0
miniboone 130064 50 2 0
molec-biol-promoter 106 57 2 0
molec-biol-splice 3190 60 3 0
monks-1 556 6 2 432
monks-2 601 6 2 432
monks-3 554 6 2 432
mushroom 8124 21 2 0
musk-1 476 166 2 0
musk-2 6598 166 2 0
nursery 12960 8 5 0
oocytes_merluccius_nucleus_4d 1022 41 2 0
oocytes_merluccius_states_2f 1022 25 3 0
oocytes_trisopterus_nucleus_2f 912 25 2 0
oocytes_trisopterus_states_5b 912 32 3 0
optical 5620 62 10 1797
ozone 2536 72 2 0
page-blocks 5473 10 5 0
parkinsons 195 22 2 0
pendigits 10992 16 10 3498
pima 768 8 2 0
pittsburg-bridges-MATERIAL 106 7 3 0
pittsburg-bridges-REL-L 103 7 3 0
pittsburg-bridges-SPAN 92 7 3 0
pittsburg-bridges-T-OR-D 102 7 2 0
pittsburg-bridges-TYPE 105 7 6 0
planning 182 12 2 0
plant-margin 1600 64 100 0
plant-shape 1600 64 100 0
plant-texture 1599 64 100 0
post-operative 90 8 3 0
primary-tumor 330 17 15 0
ringnorm 7400 20 2 0
seeds 210 7 3 0
semeion 1593 256 10 0
soybean 683 35 18 376
spambase 4601 57 2 0
spect 265 22 2 187
spectf 267 44 2 187
statlog-australian-credit 690 14 2 0
statlog-german-credit 1000 24 2 0
statlog-heart 270 13 2 0
statlog-image 2310 18 7 0
statlog-landsat 6435 36 6 2000
statlog-shuttle 58000 9 7 14500
statlog-vehicle 846 18 4 0
steel-plates 1941 27 7 0
synthetic-control 600 60 6 0
teaching 151 5 3 0
thyroid 7200 21 3 3428
tic-tac-toe 958 9 2 0
titanic 2201 3 2 0
trains 10 29 2 0
twonorm 7400 20 2 0
vertebral-column-2clases 310 6 2 0
vertebral-column-3clases 310 6 3 0
wall-following 5456 24 4 0
waveform 5000 21 3 0
waveform-noise 5000 40 3 0
wine 178 13 3 0
wine-quality-red 1599 11 6 0
wine-quality-white 4898 11 7 0
yeast 1484 8 10 0
zoo 101 16 7 0
"""

UCI121_SHAPES: dict[str, tuple[int, int, int, int]] = {
    name: (int(n), int(d), int(k), int(t))
    for name, n, d, k, t in (line.split() for line in _TABLE.strip().splitlines())
}
