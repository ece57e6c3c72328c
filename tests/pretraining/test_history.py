"""A run's logs read back: every column as numbers, and the last epoch's row."""

import numpy as np

from gpt_lesson.pretraining.history import last_epoch_logs, read_log

HISTORY = "epoch,loss,minutes,val_bits_per_char,val_loss\n0,6.0,4.0,2.6,5.6\n1,5.0,8.0,2.4,5.1\n"


def test_every_column_is_read_as_numbers(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(HISTORY)
    history = read_log(path)
    assert list(history) == ["epoch", "loss", "minutes", "val_bits_per_char", "val_loss"]
    np.testing.assert_array_equal(history["epoch"], [0.0, 1.0])
    np.testing.assert_array_equal(history["val_loss"], [5.6, 5.1])


def test_the_last_epoch_s_logs_leave_the_epoch_out(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(HISTORY)
    assert last_epoch_logs(path) == {
        "loss": 5.0,
        "minutes": 8.0,
        "val_bits_per_char": 2.4,
        "val_loss": 5.1,
    }


def test_a_log_without_rows_gives_no_logs(tmp_path):
    assert last_epoch_logs(tmp_path / "history.csv") == {}  # no epoch has finished
    (tmp_path / "history.csv").write_text("epoch,loss\n")
    assert last_epoch_logs(tmp_path / "history.csv") == {}
    assert read_log(tmp_path / "history.csv")["loss"].shape == (0,)
