"""Real models on the accelerator datapath: the CTC speech recognizer, decoding, metrics, checkpoints
and post-training quantization.

    from rnnaccel.models import SpeechRecognizer, SpeechModelConfig, load_model, calibrate
"""

from .calibrate import RangeStats, best_format, calibrate, collect_ranges, formats_from_ranges
from .checkpoint import load_checkpoint, load_model, round_to_storage, save_checkpoint
from .decode import beam_search_decode, decode, greedy_decode, prefix_beam_search
from .metrics import cer, error_rates, wer
from .speech import SpeechModelConfig, SpeechRecognizer, stack_frames, stacked_lengths

__all__ = [
    "SpeechModelConfig",
    "SpeechRecognizer",
    "stack_frames",
    "stacked_lengths",
    "greedy_decode",
    "beam_search_decode",
    "prefix_beam_search",
    "decode",
    "error_rates",
    "wer",
    "cer",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "round_to_storage",
    "RangeStats",
    "best_format",
    "calibrate",
    "collect_ranges",
    "formats_from_ranges",
]
