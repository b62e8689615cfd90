"""Reading embedding CSVs: the authors' format, ours, plain columns, and malformed files."""

import numpy as np
import pytest

from topoae.errors import DataFileError
from topoae.runs.folder import embedding_to_csv, read_embedding_csv


def test_read_embedding_csv_formats(tmp_path):
    authors = tmp_path / "authors.csv"
    authors.write_text("0,1,labels\n0.5,-1.0,10.0\n2.0,3.0,3.0\n")
    latent, labels = read_embedding_csv(authors)
    assert np.array_equal(latent, [[0.5, -1.0], [2.0, 3.0]])
    assert labels.dtype == np.int64 and list(labels) == [10, 3]
    plain = tmp_path / "plain.csv"
    plain.write_text("0.5,-1.0\n2.0,3.0\n")
    latent, labels = read_embedding_csv(plain)
    assert latent.shape == (2, 2) and labels is None
    ours = tmp_path / "ours.csv"  # what topoae.runs.embedding_to_csv writes without labels
    ours.write_text("0,1\n0.5,-1.0\n")
    latent, labels = read_embedding_csv(ours)
    assert np.array_equal(latent, [[0.5, -1.0]]) and labels is None
    for text, message in (
        ("", "empty"),
        ("0,1\n", "no rows"),
        ("1,2\n3\n", "different lengths"),
        ("a,b\n1,x\n", "not numbers"),
        ("0,labels\n1,0.5\n", "not integers"),
    ):
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_embedding_csv(bad)


def test_read_embedding_csv_reads_what_embedding_to_csv_writes(tmp_path):
    latent = np.random.default_rng(0).normal(size=(7, 3))
    labels = np.arange(7) % 3
    path = tmp_path / "e.csv"
    path.write_text(embedding_to_csv(latent, labels))
    back, back_labels = read_embedding_csv(path)
    np.testing.assert_array_equal(back, latent)  # repr round-trips float64 exactly
    np.testing.assert_array_equal(back_labels, labels)
    with pytest.raises(DataFileError, match="does not exist"):
        read_embedding_csv(tmp_path / "missing.csv")
