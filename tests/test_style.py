"""Style match: Burrows' Delta ranks a held-out text by the same author closer than one by
another author, in English and in Chinese; and the ranking follows the profile, not the texts."""
import random

import pytest

from layouts import CLERK, KEEPER, ZH_CLERK, ZH_KEEPER, prose
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


def test_score_counts_openings_where_the_tuned_draft_is_closer():
    train, val = texts(KEEPER, 1, 40), ["\n\n".join(texts(KEEPER, 2 + k, 3)) for k in range(8)]
    found = style.openings(val, count=4)
    assert len(found) == 4 and val[0].startswith(found[0]["opening"]) and all(o["writer"] for o in found)
    like_writer = [" ".join(texts(KEEPER, 10 + k, 1)) for k in range(4)]
    unlike = [" ".join(texts(CLERK, 20 + k, 1)) for k in range(4)]
    result = style.score(train, val, found, base=unlike, tuned=like_writer, copied_share=lambda t: 0.0)
    assert result["openings"] == 4 and result["tuned_closer"] == 4 and result["tuned_mean"] < result["base_mean"]
    reversed_ = style.score(train, val, found, base=like_writer, tuned=unlike)
    assert reversed_["tuned_closer"] == 0
