"""rnnaccel-evaluate on a translation checkpoint: BLEU/chrF with sacrebleu, units on encoder and decoder."""

import pytest
import torch
from hydra import compose, initialize_config_module

from rnnaccel.apps import evaluate
from rnnaccel.apps.tasks import translation_scores


def test_translation_scores():
    s = translation_scores(["a man sits on a bench ."], ["a man sits on a bench ."])
    assert s["bleu"] == pytest.approx(100.0) and s["chrf"] == pytest.approx(100.0)
    with pytest.raises(ValueError):
        translation_scores(["a"], [])


def _have_multi30k() -> bool:
    try:
        from rnnaccel.datasets.multi30k import available_splits

        return "test_2016_flickr" in available_splits()
    except Exception:
        return False


@pytest.mark.skipif(not _have_multi30k(), reason="needs Multi30k (shared data root)")
def test_tiny_random_translator_with_memo(tmp_path):
    pytest.importorskip("sentencepiece")
    from rnnaccel.datasets.multi30k import Multi30k
    from rnnaccel.datasets.subword import SubwordVocab, train_sentencepiece
    from rnnaccel.models.translation import Translator, TranslatorConfig
    from rnnaccel.models.translation_ckpt import save_translator

    pairs = Multi30k("train", max_pairs=300).pairs
    sv = SubwordVocab(train_sentencepiece([p.src for p in pairs], vocab_size=120))
    tv = SubwordVocab(train_sentencepiece([p.tgt for p in pairs], vocab_size=120))
    torch.manual_seed(0)
    model = Translator(
        TranslatorConfig(src_vocab=len(sv), tgt_vocab=len(tv), emb_size=16, enc_hidden=12, dec_hidden=16, dropout=0.0)
    )
    ck = save_translator(tmp_path / "tr.pt", model, sv, tv)
    with initialize_config_module("rnnaccel.conf", version_base="1.3"):
        cfg = compose(
            "evaluate",
            [
                f"eval.checkpoint={ck}",
                "eval.limit=6",
                "eval.progress=false",
                "memo=bnn",
                "memo.theta=0.3",
                f"eval.output={tmp_path}/r.json",
                f"eval.cache_dir={tmp_path}/c",
            ],
        )
    r = evaluate.run(cfg)
    assert r["task"] == "translation" and r["score"]["metric"] == "bleu" and 0 <= r["bleu"] <= 100
    assert r["accuracy_loss_pts"] == pytest.approx(r["score"]["baseline"] - r["bleu"])  # BLEU points as is
    assert r["memo"]["total"]["computed"] > 0 and r["cost"]["cycles"] > 0 and r["sentences"] == 6
