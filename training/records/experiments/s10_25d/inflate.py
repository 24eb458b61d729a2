"""Widen a single-slice weights file to the network of a 2.5-D config (same function)."""

import sys

from napari_dcpt.config import load_training_config
from napari_dcpt.models import build_model, load_weights, read_metadata, save_weights
from training.engine import load_init

src, config, dst = sys.argv[1:4]
cfg = load_training_config(config).model
_, _, vocab = load_weights(src)
net = build_model(cfg, len(vocab))
load_init(net, src, tuple(vocab))
save_weights(dst, net.eval(), cfg, vocab, read_metadata(src)["extra"])
print(dst)
