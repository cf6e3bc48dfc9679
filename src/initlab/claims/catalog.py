"""Every claim id of shared/PAPERS.md, with its paper and a one-line statement (data only:
:mod:`initlab.claims.registry` builds its claims from these tables)."""

PAPERS = {
    "A": "Fixup at initialization: Hessian spectrum (Furusho & Ikeda, IBISML2019-17)",
    "B": "Skip connections and BatchNorm keep inputs apart (Furusho & Ikeda, IBISML2019-16)",
    "C": "Depth and the largest usable learning rate (KAKENHI report 18J15055)",
    "D": "Progressive Data Increasing as initialization (Sato & Kimura)",
    "E": "Self-Normalizing Neural Networks (Klambauer et al., NeurIPS 2017)",
}

STATEMENTS = {
    "A1": "Under Fixup, the top Hessian eigenvalue at init grows at most like sqrt(L).",
    "A2": "Under He init (no normalization), the top Hessian eigenvalue grows exponentially in L.",
    "A3": "Under Fixup the Hessian at init is sparse: zero-initialized layers zero whole blocks.",
    "A4": "Fixup's small top eigenvalue allows a larger learning rate: faster, better than He.",
    "B1": "In an MLP the angle between two inputs' features shrinks exponentially with depth.",
    "B2": "Skip connections slow the angle's decrease to sub-exponential.",
    "B3": "Adding BatchNorm slows it further to a reciprocal (about 1/l) decrease.",
    "B4": "The MLP shrinks between-class distance more than within-class; skip and BN relieve it.",
    "B5": "After training, angle-preserving architectures reach a larger distance ratio.",
    "C1": "Angles: exponential decay in the MLP, reciprocal with ResNet + BatchNorm.",
    "C2": "The largest convergent lr is exponentially small in depth without BN, ~1/L with BN.",
    "C3": "Top Fisher eigenvalue at init: flat (MLP), exponential (ResNet), sublinear (BN).",
    "D1": "After PDI, the 2nd conv layer's weight variance lands close to He's 2/n_in.",
    "D2": "A deep ResNet-VAE trains more stably with PDI: final L1 loss He 0.2418 vs PDI 0.1860.",
    "E1": "alpha01 ~ 1.6733, lambda01 ~ 1.0507 give the SELU map g the fixed point (0, 1).",
    "E2": "Theorems 1-3: g contracts near (0, 1); variance shrinks if large, grows if small.",
    "E3": "LeCun-normal SNNs with alpha-dropout keep activations at mean 0, variance 1 with depth.",
    "E4": "On 121 UCI data sets SNN ranks best among 7 FNN variants and high among ML methods.",
    "E5": "On Tox21 (mean AUC) and HTRU2 (AUC) SNN is best among the FNN variants.",
    "E6": "SELU CNNs: MNIST 99.2% (ReLU 99.2%), CIFAR-10 82.5% (ReLU 76.1%).",
}
