"""map_pieces: order kept, errors raised, torch's thread setting read and left alone."""

import pytest
import torch

from torch_mlsd._parallel import map_pieces


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_map_pieces_keeps_the_order_and_leaves_the_thread_count(threads):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        assert map_pieces(lambda a: a + 1, range(0, 100, 7)) == [a + 1 for a in range(0, 100, 7)]
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)


def test_map_pieces_raises_what_a_piece_raises():
    def fail_at_14(a: int) -> int:
        if a == 14:
            raise ValueError("piece 14")
        return a

    with pytest.raises(ValueError, match="piece 14"):
        map_pieces(fail_at_14, range(0, 30, 7))


def test_map_pieces_of_nothing():
    assert map_pieces(lambda a: a, range(0)) == []
