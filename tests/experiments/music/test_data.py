"""Music data: the splits of each source, batches as pure functions of the step, crops and
transpositions that keep every note, and one-line errors for pieces with nothing to predict."""

import numpy as np
import pytest

from configs.music import common
from experiments.music import data as music_data
from experiments.music import rolls

scipy_io = pytest.importorskip("scipy.io")


def write_mat(path, splits: dict[str, list[np.ndarray]]) -> None:
    cells = {}
    for key, pieces in splits.items():
        cell = np.empty((1, len(pieces)), dtype=object)
        for i, p in enumerate(pieces):
            cell[0, i] = p
        cells[key] = cell
    scipy_io.savemat(path, cells)


def random_pieces(n: int, seed: int, low: int = 20, high: int = 60) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    pieces = []
    for _ in range(n):
        roll = np.zeros((int(rng.integers(3, 40)), 88), np.uint8)
        roll[:, low:high] = rng.random((len(roll), high - low)) < 0.1
        pieces.append(roll)
    return pieces


def mat_config(path, **data):
    config = common.get_config()
    config.data.update(source="mat", path=str(path), **data)
    config.train.batch_size = 8
    return config


@pytest.fixture
def mat_file(tmp_path):
    path = tmp_path / "tiny.mat"
    write_mat(
        path, {"traindata": random_pieces(18, 0), "validdata": random_pieces(3, 1), "testdata": random_pieces(3, 2)}
    )
    return path


def test_mat_batches_hold_next_frame_pairs_and_every_eval_step_once(mat_file):
    train, evals, info = music_data.make_data(mat_config(mat_file))
    splits = info["splits"]
    assert info["num_keys"] == 88 and info["steps_per_epoch"] == 3  # ceil(18 / 8)
    batch = next(train(0))
    assert batch["inputs"].shape == batch["targets"].shape and batch["inputs"].shape[0] == 8
    for row in range(8):
        n = batch["lengths"][row]
        if batch["weights"][row]:  # a real piece: targets are the inputs one frame later
            np.testing.assert_array_equal(batch["inputs"][row, 1:n], batch["targets"][row, : n - 1])
    steps = sum(float(np.sum(b["lengths"] * b["weights"])) for b in evals["test"]())
    assert steps == sum(len(r) - 1 for r in splits["test"].rolls)


def test_training_batches_are_a_pure_function_of_the_step(mat_file):
    config = mat_config(mat_file, max_train_frames=5, transpose=3)
    first = [next(music_data.make_data(config)[0](s)) for s in (0, 7)]
    again = [next(music_data.make_data(config)[0](s)) for s in (0, 7)]  # a resumed run's batches
    for a, b in zip(first, again):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    assert max(int(b["lengths"].max()) for b in first) <= 5


def test_crops_and_transpositions_keep_every_note_on_the_roll(mat_file):
    config = mat_config(mat_file, transpose=12)
    train, _, info = music_data.make_data(config)
    pieces = info["splits"]["train"].rolls
    indices_at = music_data.batching.step_indices([len(r) - 1 for r in pieces], 8, config.seed)
    for step in range(6):
        batch = next(train(step))
        for row, i in enumerate(indices_at(step)):
            n, piece = int(batch["lengths"][row]), pieces[i]
            roll = np.concatenate([batch["inputs"][row, :n], batch["targets"][row, n - 1 : n]])
            low, high = music_data.transpose_range(piece, 12)
            shifts = [s for s in range(low, high + 1) if np.array_equal(roll, music_data.shift(piece, s))]
            assert shifts, f"step {step} row {row} is no transposition of piece {i} within [{low}, {high}]"
    roll = np.zeros((4, 88), np.uint8)
    roll[:, [2, 80]] = 1
    assert music_data.transpose_range(roll, 12) == (-2, 7)
    for s in (-2, 0, 7):
        moved = music_data.shift(roll, s)
        assert moved.sum() == roll.sum() and moved[:, 2 + s].all() and moved[:, 80 + s].all()


def test_crops_are_windows_of_the_piece(mat_file):
    config = mat_config(mat_file, max_train_frames=5)
    train, _, info = music_data.make_data(config)
    pieces = info["splits"]["train"].rolls
    indices_at = music_data.batching.step_indices([min(len(r) - 1, 5) for r in pieces], 8, config.seed)
    for step in range(6):
        batch = next(train(step))
        for row, i in enumerate(indices_at(step)):
            n, piece = int(batch["lengths"][row]), pieces[i]
            assert n == min(len(piece) - 1, 5)
            window = np.concatenate([batch["inputs"][row, :n], batch["targets"][row, n - 1 : n]])
            assert any(np.array_equal(window, piece[s : s + n + 1]) for s in range(len(piece) - n))


def test_generated_and_midi_splits_by_fraction_refuse_an_empty_split():
    config = common.get_config()
    config.data.update(valid_fraction=0.0)
    pieces = rolls.Pieces(random_pieces(10, 3), [f"p{i}" for i in range(10)])
    with pytest.raises(ValueError, match="valid split of the 10 pieces"):
        music_data.split_by_fractions(pieces, config.data, "x")
    config.data.update(valid_fraction=0.2, test_fraction=0.1)
    parts = music_data.split_by_fractions(pieces, config.data, "x")
    assert [len(parts[k].rolls) for k in ("train", "valid", "test")] == [7, 2, 1]
    assert sorted(sum((parts[k].names for k in parts), [])) == sorted(pieces.names)


def test_a_piece_of_one_frame_is_refused_by_name(tmp_path):
    path = tmp_path / "short.mat"
    write_mat(path, {"traindata": random_pieces(4, 0) + [np.ones((1, 88), np.uint8)], "validdata": random_pieces(2, 1),
                     "testdata": random_pieces(2, 2)})  # fmt: skip
    with pytest.raises(ValueError, match=r"short.mat:traindata\[4\]: a piece of 1 frame") as e:
        music_data.make_data(mat_config(path))
    assert "\n" not in str(e.value)


def test_midi_folder_with_split_subfolders(tmp_path):
    pytest.importorskip("pretty_midi")
    for split, seed in (("train", 0), ("valid", 1), ("test", 2)):
        for i, roll in enumerate(random_pieces(3 if split == "train" else 2, seed, low=30, high=50)):
            roll[-1, 40] = 1  # a note in every piece (a file without one is refused)
            rolls.write_midi(roll, tmp_path / split / f"{i}.mid", frames_per_beat=2)
    config = common.get_config()
    config.data.update(source="midi", path=str(tmp_path), frames_per_beat=2)
    config.train.batch_size = 8
    _, _, info = music_data.make_data(config)
    assert {k: len(v.rolls) for k, v in info["splits"].items()} == {"train": 3, "valid": 2, "test": 2}
    expected = random_pieces(2, 2, low=30, high=50)
    assert info["splits"]["test"].rolls[0][:-1].tolist() == expected[0][:-1].tolist()
    (tmp_path / "valid" / "0.mid").unlink()
    (tmp_path / "valid" / "1.mid").unlink()
    (tmp_path / "valid").rmdir()
    with pytest.raises(ValueError, match="has test/, train/ but no valid/|has train/, test/ but no valid/"):
        music_data.make_data(config)


def test_unknown_source_and_missing_path_are_one_line():
    config = common.get_config()
    config.data.source = "mat"
    with pytest.raises(ValueError, match="data.path is required with data.source='mat'"):
        music_data.make_data(config)
    config.data.source = "wav"
    with pytest.raises(ValueError, match="data.source='wav' is not one of"):
        music_data.make_data(config)
