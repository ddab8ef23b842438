"""Tests for regkeras.datasets: lookup order, checksums, text reading, and the recipe chain."""

import dataclasses
import hashlib
import math
import os
import shutil
import subprocess

import keras
import numpy as np
import pytest

from regkeras import datasets as ds


@pytest.fixture
def no_env(monkeypatch):
    """No REGKERAS_DATA, so only explicit folders and the (fake) download are used."""
    monkeypatch.delenv(ds.DATA_ENV_VAR, raising=False)


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _register(monkeypatch, name, **changes):
    info = dataclasses.replace(ds.DATASETS[name], **changes)
    monkeypatch.setitem(ds.DATASETS, name, info)
    return info


def _fake_get_file(payload, calls):
    """A stand-in for keras.utils.get_file that 'downloads' `payload` into the cache folder."""

    def get_file(fname, origin, cache_dir=None, cache_subdir="datasets", **kwargs):
        calls.append(origin)
        folder = os.path.join(cache_dir, cache_subdir)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, fname)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(payload)
        return path

    return get_file


# ---------------------------------------------------------------------------------------------
# checksums


def test_git_blob_sha1_matches_git_hash_object(tmp_path):
    data = "boil water ten minutes\r\nadd pasta \u00e9\n".encode("utf-8")
    path = tmp_path / "small.txt"
    path.write_bytes(data)
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    expected = subprocess.run([git, "hash-object", str(path)], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert ds.git_blob_sha1(data) == expected
    assert ds.file_checksum(path, "git_sha1") == expected
    assert ds.verify_file(path, git_sha1=expected)[0]
    ok, algorithm, exp, actual = ds.verify_file(path, git_sha1="0" * 40)
    assert (ok, algorithm, exp, actual) == (False, "git_sha1", "0" * 40, expected)


def test_git_blob_sha1_reference_and_errors(tmp_path):
    # The header is "blob <decimal size>" and a NUL byte, then the contents.
    assert ds.git_blob_sha1(b"") == hashlib.sha1(b"blob 0\x00").hexdigest()
    assert ds.git_blob_sha1(b"ab\n") == hashlib.sha1(b"blob 3\x00ab\n").hexdigest()
    assert ds.git_blob_sha1(bytearray(b"ab\n")) == ds.git_blob_sha1(memoryview(b"ab\n"))
    with pytest.raises(TypeError, match="bytes"):
        ds.git_blob_sha1("text")
    path = tmp_path / "x.txt"
    path.write_bytes(b"abc")
    assert ds.file_checksum(path) == _sha256(b"abc")
    with pytest.raises(ValueError, match="algorithm"):
        ds.file_checksum(path, "md5")
    with pytest.raises(ValueError, match="at least one"):
        ds.verify_file(path)


# ---------------------------------------------------------------------------------------------
# reading local text


def test_load_text_from_path_normalises_line_endings_and_bom(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes("\ufeffline one\r\nline two\rline \u00e9\n".encode("utf-8"))
    assert ds.load_text(str(path)) == "line one\nline two\nline \u00e9\n"
    assert ds.load_text(path) == "line one\nline two\nline \u00e9\n"  # a Path works too


def test_load_text_rejects_empty_and_non_utf8(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        ds.load_text(str(empty))
    blank = tmp_path / "blank.txt"
    blank.write_bytes(b" \r\n\n\t")
    with pytest.raises(ValueError, match="empty"):
        ds.load_text(str(blank))
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\u00e9".encode("latin-1"))
    with pytest.raises(ValueError, match="UTF-8"):
        ds.load_text(str(latin))


def test_unknown_name_and_missing_file():
    with pytest.raises(ValueError, match="Unknown dataset 'shakespear'.*tiny_shakespeare"):
        ds.load_text("shakespear")
    with pytest.raises(FileNotFoundError, match="No such file.*recipes"):
        ds.load_text("no/such/file.txt")
    with pytest.raises(TypeError, match="name"):
        ds.load_text(3)
    with pytest.raises(FileNotFoundError, match="data_dir"):
        ds.load_text("ptb.valid", data_dir="/no/such/folder")
    with pytest.raises(ValueError, match="split"):
        ds.ptb("validation")
    assert "ptb" in ds.available_datasets() and "recipes" in ds.available_datasets()


def test_lookup_order_explicit_folder_then_env_var(tmp_path, monkeypatch):
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    explicit.mkdir()
    env.mkdir()
    (explicit / "ptb.valid.txt").write_bytes(b" explicit copy \n")
    (env / "ptb.valid.txt").write_bytes(b" env copy \n")
    monkeypatch.setenv(ds.DATA_ENV_VAR, str(env))
    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: pytest.fail("downloaded"))
    kw = {"verify": False}
    assert ds.load_text("ptb.valid", data_dir=str(explicit), **kw) == " explicit copy \n"
    assert ds.load_text("ptb.valid", **kw) == " env copy \n"
    assert ds.ptb("valid", **kw) == " env copy \n"
    # The explicit folder lacks the test split, so the env folder is used for it.
    (env / "ptb.test.txt").write_bytes(b" env test \n")
    assert ds.load_text("ptb.test", data_dir=str(explicit), **kw) == " env test \n"


def test_local_file_is_verified_and_kept_on_mismatch(tmp_path, monkeypatch, no_env):
    good = b" a tiny stand in \n"
    (tmp_path / "ptb.valid.txt").write_bytes(good)
    _register(monkeypatch, "ptb.valid", sha256=_sha256(good))
    assert ds.load_text("ptb.valid", data_dir=str(tmp_path)) == good.decode()
    (tmp_path / "ptb.valid.txt").write_bytes(b"tampered\n")
    with pytest.raises(ValueError) as err:
        ds.load_text("ptb.valid", data_dir=str(tmp_path))
    message = str(err.value)
    assert "ptb.valid.txt" in message and _sha256(good) in message
    assert _sha256(b"tampered\n") in message
    assert (tmp_path / "ptb.valid.txt").exists(), "a user's own file must never be deleted"


# ---------------------------------------------------------------------------------------------
# downloading (the network is replaced by a fake get_file)


def test_download_checksum_mismatch_deletes_corrupt_file(tmp_path, monkeypatch, no_env):
    calls = []
    monkeypatch.setattr(keras.utils, "get_file", _fake_get_file(b"<html>garbage</html>", calls))
    cache = tmp_path / "cache"
    with pytest.raises(ValueError) as err:
        ds.load_text("tiny_shakespeare", cache_dir=str(cache))
    message = str(err.value)
    info = ds.DATASETS["tiny_shakespeare"]
    assert info.filename in message
    assert info.sha256 in message
    assert _sha256(b"<html>garbage</html>") in message
    assert len(calls) == 2 and calls[0] == info.url  # one retry after deleting the bad copy
    leftovers = [f for _, _, files in os.walk(cache) for f in files]
    assert leftovers == [], f"corrupt file left in the cache: {leftovers}"


def test_download_git_blob_checked_file_is_kept(tmp_path, monkeypatch, no_env):
    payload = b" no it was n't black monday \n but while the new york stock exchange \n"
    _register(monkeypatch, "ptb.train", git_sha1=ds.git_blob_sha1(payload))
    calls = []
    monkeypatch.setattr(keras.utils, "get_file", _fake_get_file(payload, calls))
    cache = tmp_path / "cache"
    assert ds.ptb("train", cache_dir=str(cache)) == payload.decode()
    assert ds.load_text("ptb", cache_dir=str(cache)) == payload.decode()
    assert calls == [ds.DATASETS["ptb.train"].url] * 2
    cached = cache / "datasets" / "regkeras" / "ptb.train.txt"
    assert cached.read_bytes() == payload


def test_stale_corrupt_cache_is_replaced(tmp_path, monkeypatch, no_env):
    payload = b" good text \n"
    _register(monkeypatch, "ptb.test", sha256=_sha256(payload))
    cache = tmp_path / "cache"
    stale = cache / "datasets" / "regkeras" / "ptb.test.txt"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"truncated")
    calls = []
    monkeypatch.setattr(keras.utils, "get_file", _fake_get_file(payload, calls))
    assert ds.ptb("test", cache_dir=str(cache)) == payload.decode()
    assert len(calls) == 2 and stale.read_bytes() == payload


def test_download_failure_and_download_false(tmp_path, monkeypatch, no_env):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example: None -- no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(FileNotFoundError, match="ptb.train.txt.*REGKERAS_DATA"):
        ds.load_text("ptb", cache_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="download=False"):
        ds.load_text("tiny_shakespeare", download=False)


# ---------------------------------------------------------------------------------------------
# the real corpora (skipped unless REGKERAS_DATA is set)


def test_real_corpora(data_dir, monkeypatch):
    monkeypatch.setattr(keras.utils, "get_file", lambda *a, **k: pytest.fail("downloaded"))
    text = ds.tiny_shakespeare(data_dir=data_dir)
    assert len(text) == 1_115_394 and text.startswith("First Citizen:")
    assert len(set(text)) == 65
    valid = ds.ptb("valid", data_dir=data_dir)
    test = ds.ptb("test", data_dir=data_dir)
    assert len(valid.split()) == 70_390 and valid.count("\n") == 3_370
    assert "<unk>" in test and "\r" not in test
    if not os.path.exists(os.path.join(data_dir, "ptb.train.txt")):
        with pytest.raises(FileNotFoundError):
            ds.ptb("train", data_dir=data_dir, download=False)


# ---------------------------------------------------------------------------------------------
# the recipe chain


def test_chain_is_a_proper_markov_chain():
    chain = ds.RecipeChain(seed=0)
    p = chain.transition_matrix
    assert 40 <= len(chain.words) <= 80 and "." in chain.words
    assert all(" " not in w and w for w in chain.words)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    assert (p >= 0).all()
    # Sparse: most words have few successors, but there is real randomness everywhere.
    successors = (p > 0).sum(axis=1)
    assert successors.min() >= 1 and np.median(successors) <= 12 and successors.max() >= 20
    assert (p > 0).mean() < 0.25
    # Irreducible and aperiodic: some power of P is strictly positive.
    reach = np.linalg.matrix_power((p > 0).astype(float), 12)
    assert (reach > 0).all()
    np.testing.assert_allclose(chain.stationary @ p, chain.stationary, atol=1e-12)
    np.testing.assert_allclose(chain.stationary.sum(), 1.0)


def test_entropy_rate_matches_numpy_reference_and_target_range():
    chain = ds.RecipeChain(seed=0)
    p = chain.transition_matrix
    # Reference: stationary distribution by power iteration, entropy per word over chars per word.
    pi = np.full(len(p), 1.0 / len(p))
    for _ in range(2000):
        pi = pi @ p
    h_rows = np.array([-sum(q * math.log(q) for q in row if q > 0) for row in p])
    chars = np.array([len(w) + 1 for w in chain.words])
    np.testing.assert_allclose(chain.entropy_rate, (pi @ h_rows) / (pi @ chars), rtol=1e-9)
    assert 0.4 < chain.entropy_rate < 1.2
    # Word order carries information: knowing only word frequencies costs much more.
    assert chain.unigram_entropy_rate > 1.5 * chain.entropy_rate
    assert ds.recipes_entropy_rate(0) == chain.entropy_rate
    assert ds.recipes_entropy_rate(1) != ds.recipes_entropy_rate(0)


def test_entropy_rate_matches_monte_carlo_estimate():
    chain = ds.RecipeChain(seed=3)
    text = chain.sample(120_000, seed=11)
    # -log p of the sample per character; each word brings its letters and one separator.
    estimate = -chain.log_prob(text) / (len(text) + 1)
    assert estimate == pytest.approx(chain.entropy_rate, rel=0.015)


def test_sampling_is_reproducible_by_seed():
    chain = ds.RecipeChain(seed=0)
    a = chain.sample(500)
    assert a == chain.sample(500) == chain.sample(500, seed=0) == ds.recipes(500, seed=0)
    assert chain.sample(500, seed=1) != a
    assert ds.recipes(500, seed=1) != a
    assert ds.RecipeChain(seed=0).sample(200, seed=5) == chain.sample(200, seed=5)
    # Seeds change the probabilities, never the grammar.
    p0, p1 = ds.RecipeChain(0).transition_matrix, ds.RecipeChain(1).transition_matrix
    assert ((p0 > 0) == (p1 > 0)).all() and not np.allclose(p0, p1)
    words = a.split(" ")
    assert len(words) == 500 and set(words) <= set(chain.words)
    assert math.isfinite(chain.log_prob(a))  # every transition is one the chain can make


def test_default_recipe_corpus_size_and_characters():
    text = ds.recipes()
    assert 100_000 <= len(text) <= 200_000
    assert text == ds.load_text("recipes")
    assert set(text) <= set("abcdefghijklmnopqrstuvwxyz. ")
    assert "  " not in text and not text.startswith(" ")


def test_chain_argument_validation():
    chain = ds.RecipeChain(0)
    for bad, error in ((-1, ValueError), (2**70, ValueError), (1.5, TypeError),
                       ("0", TypeError), (True, TypeError), (None, TypeError)):
        with pytest.raises(error, match="`seed` must be an integer in") as info:
            ds.RecipeChain(bad)
        assert type(info.value) is error
    with pytest.raises(ValueError, match="num_words"):
        chain.sample(0)
    with pytest.raises(TypeError, match="num_words"):
        chain.sample(2.0)
    with pytest.raises(ValueError, match="seed"):
        ds.recipes(10, seed=-3)
    with pytest.raises(ValueError, match="not a word"):
        chain.log_prob("boil unicorns")
    with pytest.raises(ValueError, match="cannot make"):
        chain.log_prob("for pasta")
