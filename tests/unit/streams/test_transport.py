from faust.types import TP

from streams.transport import corrected_end_offsets

A, B, C = TP("changelog", 0), TP("changelog", 1), TP("changelog", 2)


def test_end_offsets_are_raised_to_the_fetch_high_watermark() -> None:
    # Tansu: ListOffsets = base offset of the last batch + 1; the Fetch high watermark is right.
    assert corrected_end_offsets({A: 7, B: 1, C: 0}, {A: 13, B: 5}) == {A: 13, B: 5, C: 0}


def test_end_offsets_never_go_below_the_listed_ones() -> None:
    assert corrected_end_offsets({A: 10, B: 4}, {A: 9}) == {A: 10, B: 4}
