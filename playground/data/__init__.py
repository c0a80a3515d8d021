"""Datasets as device-ready tensors: embedded sets that always work offline, and torchvision
downloads cached under $PLAYGROUND_DATA_DIR."""
from playground.data.base import Data, DataUnavailable, split
from playground.data.toy2d import DATASETS_2D, make_2d
from playground.data.images import IMAGE_DATASETS, DOWNLOADABLE, load_images, data_dir

__all__ = ["Data", "DataUnavailable", "split", "DATASETS_2D", "make_2d", "IMAGE_DATASETS",
           "DOWNLOADABLE", "load_images", "data_dir"]
