"""Style match: Burrows' Delta ranks a held-out text by the same author closer than one by
another author, in English and in Chinese; and the ranking follows the profile, not the texts.
The verdict says closer, no clear change or further only as the interval on the change allows,
and the Runs view and the CLI show it, and still show an eval.json written before verdicts."""
import json
import random

import pytest

from layouts import CLERK, KEEPER, ZH_CLERK, ZH_KEEPER, prose
from studio.__main__ import _eval_line
from studio.records import StyleEvaluation, StyleVerdict, evaluation_from_dict, to_dict
from studio.ui.views import eval_markdown
from studio.write import style


def texts(voice, seed, n, joiner=" "):
    return prose(random.Random(seed), voice, n, joiner)


@pytest.mark.parametrize("writer, other, joiner", [(KEEPER, CLERK, " "), (ZH_KEEPER, ZH_CLERK, "")],
                         ids=["english", "chinese"])
def test_delta_ranks_the_same_author_closer_and_can_fail(writer, other, joiner):
    train, heldout = texts(writer, 1, 40, joiner), texts(writer, 2, 6, joiner)
    same, different = " ".join(texts(writer, 3, 2, joiner)), " ".join(texts(other, 4, 2, joiner))
    delta = style.Delta(train, heldout, segment_chars=len(same))
    assert delta.distance(same) < delta.distance(different)
    # the measure follows the profile: against the other author's text the order flips
    flipped = style.Delta(texts(other, 5, 40, joiner), texts(other, 6, 6, joiner), segment_chars=len(same))
    assert flipped.distance(different) < flipped.distance(same)


def test_score_leads_with_means_and_an_interval_and_counts_wins_as_detail():
    train, val = texts(KEEPER, 1, 40), ["\n\n".join(texts(KEEPER, 2 + k, 3)) for k in range(8)]
    found = style.openings(val, count=6)
    assert len(found) == 6 and val[0].startswith(found[0]["opening"]) and all(o["writer"] for o in found)
    like_writer = [" ".join(texts(KEEPER, 10 + k, 1)) for k in range(6)]
    unlike = [" ".join(texts(CLERK, 20 + k, 1)) for k in range(6)]
    result = style.score(train, val, found, base=unlike, tuned=like_writer, copied_share=lambda t: 0.0)
    assert isinstance(result, StyleEvaluation) and result.openings == 6 and result.tuned_closer == 6
    low, high = result.interval
    assert result.tuned_mean < result.base_mean and low <= result.difference <= high < 0
    assert result.verdict == StyleVerdict.CLOSER and result.confidence == 0.95 and result.writer_mean is not None
    reversed_ = style.score(train, val, found, base=like_writer, tuned=unlike)
    assert reversed_.tuned_closer == 0 and reversed_.verdict == StyleVerdict.FURTHER
    # what eval.json and style.json hold: plain JSON, read back as the same record
    stored = json.loads(json.dumps(to_dict(result)))
    assert stored["verdict"] == "closer" and evaluation_from_dict({"base": {}, "tuned": {}, "style": stored}).style == result


BASE = [0.52, 0.47, 0.55, 0.44, 0.50, 0.49, 0.58, 0.46]


@pytest.mark.parametrize("shift, noise, expected", [
    (-0.10, [0.01, -0.02, 0.0, 0.02, -0.01, 0.01, 0.0, -0.01], StyleVerdict.CLOSER),
    (0.10, [0.01, -0.02, 0.0, 0.02, -0.01, 0.01, 0.0, -0.01], StyleVerdict.FURTHER),
    # the mean moved a little closer, and 5 of 8 openings won, but the openings disagree: no clear change
    (-0.01, [-0.12, 0.15, -0.08, 0.10, -0.05, 0.09, -0.11, -0.06], StyleVerdict.UNCLEAR),
], ids=["closer", "further", "no-clear-change"])
def test_the_verdict_is_what_the_interval_supports(shift, noise, expected):
    tuned = [b + shift + e for b, e in zip(BASE, noise)]
    mean, low, high = style.change_interval(BASE, tuned)
    assert low <= mean <= high and mean == pytest.approx(shift + sum(noise) / 8)
    assert style.verdict(low, high, len(BASE)) == expected
    assert style.change_interval(BASE, tuned) == (mean, low, high)  # seeded: one set of distances, one interval


def test_a_few_openings_give_no_verdict_even_when_all_win():
    mean, low, high = style.change_interval(BASE[:3], [b - 0.2 for b in BASE[:3]])
    assert high < 0 and style.verdict(low, high, 3) == StyleVerdict.TOO_FEW


OLD_STYLE = {"measure": "Burrows' Delta", "openings": 8, "tuned_closer": 4, "base_mean": 0.425, "tuned_mean": 0.315,
             "writer_mean": 0.401, "rows": [], "tuned_copied": 0.02, "base_copied": 0.01}
NEW_STYLE = {**OLD_STYLE, "difference": -0.11, "interval": [-0.152, -0.071], "confidence": 0.95, "resamples": 2000,
             "verdict": "closer"}


def evaluation(style_json):
    return {"base": {"loss": 3.0, "perplexity": 20.1}, "tuned": {"loss": 2.0, "perplexity": 7.4}, "steps": 10,
            "tokens_seen": 5000, "train_seconds": 60.0, "style": style_json}


def test_runs_view_and_cli_show_the_verdict_and_still_show_an_old_eval_json():
    new_en, new_zh = (eval_markdown(evaluation_from_dict(evaluation(NEW_STYLE)), lang) for lang in ("en", "zh"))
    assert "**closer to your style**: -0.110 (-0.152 to -0.071)" in new_en and "95% interval" in new_en
    assert "**更接近你的风格**" in new_zh and "95% 区间" in new_zh and "8 个开头中有 4 个" in new_zh
    lines = new_en.splitlines()  # means first, then the verdict, then the wins as detail
    order = [next(i for i, line in enumerate(lines) if word in line) for word in ("0.425", "style verdict", "in 4 of 8")]
    assert order == sorted(order)
    old = eval_markdown(evaluation_from_dict(evaluation(OLD_STYLE)), "en")
    assert "0.425 | 0.315 (-0.110)" in old and "in 4 of 8 openings" in old and "verdict" not in old
    assert "style: closer to your style" in _eval_line(evaluation(NEW_STYLE)) and "-0.152 to -0.071" in _eval_line(
        evaluation(NEW_STYLE))
    assert "tuned closer in 4 of 8 openings" in _eval_line(evaluation(OLD_STYLE))
    assert "no interval" in _eval_line(evaluation(OLD_STYLE))
    unclear = {**NEW_STYLE, "interval": [-0.2, 0.05], "verdict": "unclear"}
    assert "**no clear change**" in eval_markdown(evaluation_from_dict(evaluation(unclear)), "en")
    assert "没有明显变化" in eval_markdown(evaluation_from_dict(evaluation(unclear)), "zh")
