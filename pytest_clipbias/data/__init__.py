"""Datasets: FaceSet and its loaders, region maps, morph series, synthetic faces."""

from .faceset import DatasetError, FaceItem, FaceSet
from .loaders import (
    DatasetWarning,
    faceset_from_records,
    load_cfd,
    load_fairface,
    load_folders,
    load_manifest,
    load_utkface,
)
from .morph import (
    MorphSeries,
    build_series,
    cross_dissolve,
    default_alphas,
    landmark_morph,
    load_morph_series,
    load_series_folder,
    morph_frames,
    resize_parents,
)
from .regions import (
    Country,
    countries,
    gender_gap_index,
    lookup_country,
    region_of,
    wef_regions,
)
from .synthetic import render_face, synthetic_faces, synthetic_morph_series

__all__ = [
    "Country",
    "DatasetError",
    "DatasetWarning",
    "FaceItem",
    "FaceSet",
    "MorphSeries",
    "build_series",
    "countries",
    "cross_dissolve",
    "default_alphas",
    "faceset_from_records",
    "gender_gap_index",
    "landmark_morph",
    "load_cfd",
    "load_fairface",
    "load_folders",
    "load_manifest",
    "load_morph_series",
    "load_series_folder",
    "load_utkface",
    "lookup_country",
    "morph_frames",
    "region_of",
    "render_face",
    "resize_parents",
    "synthetic_faces",
    "synthetic_morph_series",
    "wef_regions",
]
