"""Metrics for generated images: FID/KID on pluggable features, the shipped digits classifier, class accuracy,
and the super-resolution protocol (PSNR/SSIM on Y with the border cropped, against bicubic)."""

from condgen.metrics.classes import class_accuracy, per_class_accuracy, predict_classes
from condgen.metrics.classifier import DIGITS_CLASSIFIER_WEIGHTS, DigitClassifier, load_digit_classifier
from condgen.metrics.features import (
    ClassifierFeatures,
    FeatureExtractor,
    InceptionFeatures,
    MissingDependencyError,
    find_inception_weights,
    get_feature_extractor,
)
from condgen.metrics.fid import (
    extract_features,
    fid_from_features,
    fid_kid,
    floor_fid,
    frechet_distance,
    kid_from_features,
)
from condgen.metrics.sr import bicubic_upscale, evaluate_sr, psnr_y, rgb_to_y, sr_scores, ssim_y

__all__ = [
    "DIGITS_CLASSIFIER_WEIGHTS",
    "ClassifierFeatures",
    "DigitClassifier",
    "FeatureExtractor",
    "InceptionFeatures",
    "MissingDependencyError",
    "bicubic_upscale",
    "class_accuracy",
    "evaluate_sr",
    "extract_features",
    "fid_from_features",
    "fid_kid",
    "find_inception_weights",
    "floor_fid",
    "frechet_distance",
    "get_feature_extractor",
    "kid_from_features",
    "load_digit_classifier",
    "per_class_accuracy",
    "predict_classes",
    "psnr_y",
    "rgb_to_y",
    "sr_scores",
    "ssim_y",
]
