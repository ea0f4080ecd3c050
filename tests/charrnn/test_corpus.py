"""Tests for corpus sources, cleaning, vocabulary, encoding and splits (rnnpipe.charrnn.corpus)."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
import torch

from rnnpipe.charrnn.corpus import (
    ALLOWED,
    build_vocab,
    clean_text,
    corpus_stats,
    encode,
    load_source,
    parse_fortunes,
    read_splits,
    read_text_file,
    read_vocab,
    split_text,
)
from rnnpipe.core.errors import CorpusError, DataError


def corpus_error(call, *args, **kwargs) -> str:
    with pytest.raises(CorpusError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message, f"not one line: {message!r}"
    return message


# --- clean_text ---------------------------------------------------------------------------------------------------

def test_clean_text_keeps_yo_and_lowercases_capital_yo():
    cleaned = clean_text("Ёлка и ёж. ЁЖИК")
    assert cleaned.text == "ёлка и ёж. ёжик"
    assert cleaned.removed == Counter()


def test_clean_text_drops_the_symbols_between_Z_and_a_and_counts_them():
    cleaned = clean_text("a[b\\c]d^e_f`g!h-i")
    assert cleaned.text == "abcdefghi"
    assert cleaned.removed == Counter({"[": 1, "\\": 1, "]": 1, "^": 1, "_": 1, "`": 1, "!": 1, "-": 1})


def test_clean_text_counts_each_removed_symbol_occurrence():
    cleaned = clean_text("«да» — «нет» — «да»!")
    assert cleaned.text == "да нет да"
    assert cleaned.removed == Counter({"«": 3, "»": 3, "—": 2, "!": 1})


def test_clean_text_lowercases_latin_and_cyrillic():
    assert clean_text("Hello WORLD Привет МИР").text == "hello world привет мир"


def test_clean_text_keeps_digits_and_allowed_punctuation():
    assert clean_text("1, 2; 3: 4. 5? 6").text == "1, 2; 3: 4. 5? 6"


def test_clean_text_collapses_all_whitespace_into_one_space():
    cleaned = clean_text("  один\n\nдва\t\tтри \r\n четыре\u00a0пять  ")
    assert cleaned.text == "один два три четыре пять"
    assert cleaned.removed == Counter()


def test_clean_text_leaves_no_double_space_where_a_symbol_was_dropped():
    assert clean_text("a - b -- c").text == "a b c"


def test_clean_text_strips_byte_order_marks():
    cleaned = clean_text("\ufeffпервый\ufeff файл")
    assert cleaned.text == "первый файл"
    assert "\ufeff" not in cleaned.removed


def test_clean_text_output_only_holds_allowed_characters():
    raw = "".join(chr(c) for c in range(32, 1200)) + "ЁёЙй\t\n"
    cleaned = clean_text(raw)
    assert set(cleaned.text) <= ALLOWED
    assert {"ё", "й", "z", "я", "0", "9", ".", ",", "?", ";", ":"} <= set(cleaned.text)


def test_clean_text_matches_a_character_by_character_reference_on_any_code_point():
    # Characters a regex class or an encoder could trip on: ] ^ \\ -, a lone surrogate, one beyond the BMP.
    raw = "a]b^c\\d-e\ud800f\U0001F600 Ёж\ufeff  Z[ " + "".join(chr(c) for c in range(0, 0x3000, 7))
    for strip in (True, False):
        lowered = re.sub(r"\s+", " ", raw.replace("\ufeff", "").lower())
        expected = re.sub(" {2,}", " ", "".join(ch for ch in lowered if ch in ALLOWED))
        cleaned = clean_text(raw, strip=strip)
        assert cleaned.text == (expected.strip() if strip else expected)
        assert cleaned.removed == Counter(ch for ch in lowered if ch not in ALLOWED)


# --- parse_fortunes -----------------------------------------------------------------------------------------------

FORTUNES = (
    "Первая строка\n"
    "вторая строка\n"
    "%\n"
    "Текст -- с тире внутри\n"
    "\t\t-- Автор Авторович\n"
    "%\n"
    "    -- Только подпись\n"
    "%\n"
    "--не подпись, нет отступа\n"
    "%\n"
)


def test_parse_fortunes_splits_on_percent_lines_and_drops_attributions():
    assert parse_fortunes(FORTUNES) == [
        "Первая строка\nвторая строка",
        "Текст -- с тире внутри",
        "--не подпись, нет отступа",
    ]


def test_parse_fortunes_keeps_a_percent_inside_a_line_and_a_last_entry_without_separator():
    assert parse_fortunes("скидка 50%\n%\nпоследняя") == ["скидка 50%", "последняя"]


# --- read_text_file -----------------------------------------------------------------------------------------------

def test_read_text_file_returns_utf8_text(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("мой дядя\n".encode("utf-8"))
    assert read_text_file(path) == "мой дядя\n"


def test_read_text_file_missing_path_is_named(tmp_path):
    missing = tmp_path / "нет такого.txt"
    message = corpus_error(read_text_file, missing)
    assert str(missing) in message and "not found" in message


def test_read_text_file_refuses_a_folder(tmp_path):
    assert str(tmp_path) in corpus_error(read_text_file, tmp_path)


@pytest.mark.parametrize("content", [b"", b"  \n\t\n"])
def test_read_text_file_refuses_an_empty_file(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    message = corpus_error(read_text_file, path)
    assert "empty" in message and str(path) in message


def test_read_text_file_names_the_offset_of_a_non_utf8_byte(tmp_path):
    path = tmp_path / "cp1251.txt"
    path.write_bytes(b"hello " + "мир".encode("cp1251"))
    message = corpus_error(read_text_file, path)
    assert "UTF-8" in message and "offset 6" in message and "0xec" in message and str(path) in message


def test_read_text_file_refuses_a_binary_file_with_nul(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"PK\x03\x04abc\x00\x00def")
    message = corpus_error(read_text_file, path)
    assert "binary" in message and "offset 7" in message and str(path) in message


# --- load_source --------------------------------------------------------------------------------------------------

def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_load_source_file_reads_one_file(tmp_path):
    write(tmp_path / "onegin.txt", "Мой дядя самых честных правил")
    text, files = load_source("file", tmp_path / "onegin.txt")
    assert text == "Мой дядя самых честных правил" and files == ["onegin.txt"]


def test_load_source_dir_reads_nested_txt_files_in_sorted_order(tmp_path):
    write(tmp_path / "b.txt", "второй")
    write(tmp_path / "c" / "d" / "e.txt", "третий")
    write(tmp_path / "a" / "x.txt", "первый")
    write(tmp_path / "notes.md", "не текст корпуса")
    write(tmp_path / "a" / "skip.dat", "тоже нет")
    text, files = load_source("dir", tmp_path)
    assert files == ["a/x.txt", "b.txt", "c/d/e.txt"]
    assert text == "первый второй третий"


def test_load_source_dir_without_txt_files_is_an_error(tmp_path):
    write(tmp_path / "readme.md", "нет txt")
    message = corpus_error(load_source, "dir", tmp_path)
    assert "no .txt files" in message and str(tmp_path) in message


def test_load_source_dir_missing_folder_is_named(tmp_path):
    assert str(tmp_path / "nope") in corpus_error(load_source, "dir", tmp_path / "nope")


def test_load_source_fortunes_reads_the_listed_files_in_order(tmp_path):
    write(tmp_path / "art", "Искусство вечно.\n\t-- Гиппократ\n%\nВторая мысль.\n%\n")
    write(tmp_path / "book", "Книга -- лучший подарок.\n%\n")
    write(tmp_path / "sex", "не в списке\n%\n")
    write(tmp_path / "art.dat", "binary index")
    text, files = load_source("fortunes-ru", tmp_path, ["book", "art"])
    assert files == ["book", "art"]
    assert text == "Книга -- лучший подарок. Искусство вечно. Вторая мысль."


def test_load_source_fortunes_missing_listed_file_is_named(tmp_path):
    write(tmp_path / "art", "Искусство.\n%\n")
    write(tmp_path / "book", "Книга.\n%\n")
    message = corpus_error(load_source, "fortunes-ru", tmp_path, ["art", "poetry"])
    assert "'poetry'" in message and str(tmp_path) in message and "art, book" in message


@pytest.mark.parametrize("name", ["../secret", "sub/art", "..", ".", "", "..\\secret"])
def test_load_source_fortunes_reads_no_file_outside_its_folder(tmp_path, name):
    folder = tmp_path / "ru"
    write(folder / "art", "Искусство.\n%\n")
    (folder / "sub").mkdir()
    write(folder / "sub" / "art", "Вложенный.\n%\n")
    write(tmp_path / "secret", "Чужой файл.\n%\n")
    message = corpus_error(load_source, "fortunes-ru", folder, ["art", name])
    assert f"{name!r} is not a plain file name" in message and str(folder) in message


def test_load_source_fortunes_missing_folder_says_how_to_install(tmp_path):
    message = corpus_error(load_source, "fortunes-ru", tmp_path / "ru", ["art"])
    assert str(tmp_path / "ru") in message and "apt-get install" in message


def test_load_source_unknown_source_is_an_error(tmp_path):
    assert "'web'" in corpus_error(load_source, "web", tmp_path)


# --- splits, vocabulary, encoding ---------------------------------------------------------------------------------

def test_split_text_is_contiguous_with_the_requested_fractions():
    text = "".join(chr(ord("a") + i % 26) for i in range(200))
    train, val, test = split_text(text, 0.9, 0.05)
    assert (len(train), len(val), len(test)) == (180, 10, 10)
    assert train == text[:180] and val == text[180:190] and test == text[190:]


@pytest.mark.parametrize("n", [1, 7, 33, 101])
def test_split_text_parts_rebuild_the_text(n):
    text = "x" * n
    train, val, test = split_text(text, 0.7, 0.2)
    assert train + val + test == text


def test_build_vocab_is_sorted_and_unique():
    assert build_vocab("баба а ab") == [" ", "a", "b", "а", "б"]


def test_encode_gives_each_character_its_vocabulary_index():
    text = "мой дядя самых честных правил"
    vocab = build_vocab(text)
    ids = encode(text, vocab)
    assert ids.dtype == torch.long and ids.shape == (len(text),)
    assert ids.tolist() == [vocab.index(ch) for ch in text]
    assert "".join(vocab[i] for i in ids) == text


def test_encode_handles_an_empty_text_and_characters_beyond_the_bmp():
    assert encode("", ["a"]).dtype == torch.long and encode("", []).shape == (0,)
    assert encode("x\U0001F600x", ["\U0001F600", "x", "я"]).tolist() == [1, 0, 1]


def test_encode_names_the_characters_missing_from_the_vocabulary():
    message = corpus_error(encode, "abzqz", ["a", "b"])
    assert "'qz'" in message


def test_corpus_stats_counts_kept_and_removed():
    cleaned = clean_text("А!б!в?г#")
    stats = corpus_stats(cleaned, raw_length=8, vocab=build_vocab(cleaned.text))
    assert stats == {"raw_chars": 8, "kept_chars": 5, "removed_chars": 3, "vocab_size": 5,
                     "top_removed": {"!": 2, "#": 1}}


def test_fortunes_shuffle_is_seeded_and_keeps_every_entry(tmp_path):
    entries = [f"цитата номер {i}" for i in range(30)]
    (tmp_path / "quotes").write_text("\n%\n".join(entries) + "\n", encoding="utf-8")
    in_order, _ = load_source("fortunes-ru", tmp_path, ["quotes"])
    shuffled, _ = load_source("fortunes-ru", tmp_path, ["quotes"], shuffle_seed=0)
    again, _ = load_source("fortunes-ru", tmp_path, ["quotes"], shuffle_seed=0)
    other, _ = load_source("fortunes-ru", tmp_path, ["quotes"], shuffle_seed=1)
    assert in_order == " ".join(entries)
    assert shuffled == again and shuffled != in_order and other != shuffled
    assert sorted(shuffled.split(" цитата")) != [] and sorted(e for e in entries) == sorted(
        "цитата" + part if not part.startswith("цитата") else part for part in shuffled.split(" цитата"))


@pytest.mark.parametrize("encoding, bom", [("utf-16", True), ("utf-16-le", False), ("utf-16-be", False),
                                           ("utf-32", True), ("utf-32-le", False)])
def test_utf16_and_utf32_text_is_named_with_the_iconv_line(tmp_path, encoding, bom):
    path = tmp_path / "onegin.txt"
    path.write_bytes("Мой дядя самых честных правил, когда не в шутку занемог. The end.\n".encode(encoding))
    message = corpus_error(read_text_file, path)
    expected = {"utf-16": "UTF-16LE", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE", "utf-32": "UTF-32LE",
                "utf-32-le": "UTF-32LE"}[encoding]
    assert f"is {expected} text ({'with' if bom else 'without'} a byte order mark)" in message
    assert f"iconv -f {expected} -t UTF-8 {path} > onegin.utf8.txt" in message


def test_binary_data_with_nul_bytes_is_still_called_binary(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(bytes(range(256)) * 8)
    assert "looks binary" in corpus_error(read_text_file, path)


# --- the prepared corpus as the later stages read it -----------------------------------------------------------------

def prepared(tmp_path: Path, vocab: object = ("a", "b", " "), **splits: str) -> Path:
    (tmp_path / "vocab.json").write_text(json.dumps({"vocab": vocab}), encoding="utf-8")
    for name, text in {"train": "ab ba", "val": "ba", "test": "a b", **splits}.items():
        (tmp_path / f"{name}.txt").write_text(text, encoding="utf-8")
    return tmp_path


def test_a_prepared_corpus_reads_back_as_ids(tmp_path):
    corpus = prepared(tmp_path)
    vocab = read_vocab(corpus)
    train, test = read_splits(corpus, ("train", "test"), vocab)
    assert vocab == ["a", "b", " "] and train.tolist() == [0, 1, 2, 1, 0] and test.tolist() == [0, 2, 1]


@pytest.mark.parametrize("content, problem", [
    ('{"vocab": [', "not JSON (Expecting value: line 1 column 12 (char 11))"),
    ('{"chars": ["a"]}', "its 'vocab' is not a list of distinct characters"),
    ('{"vocab": ["a", "a"]}', "its 'vocab' is not a list of distinct characters"),
    ('{"vocab": ["ab"]}', "its 'vocab' is not a list of distinct characters"),
    ('{"vocab": []}', "its 'vocab' is not a list of distinct characters"),
    ('["a"]', "its 'vocab' is not a list of distinct characters"),
])
def test_a_damaged_vocabulary_is_one_line_with_its_remedy(tmp_path, content, problem):
    corpus = prepared(tmp_path)
    (corpus / "vocab.json").write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as refused:
        read_vocab(corpus)
    path = corpus / "vocab.json"
    assert str(refused.value) == (f"{path}: {problem}; restore it with `dvc checkout {path}`, or rebuild it with "
                                  "`dvc repro -f -s prepare_corpus`")


@pytest.mark.parametrize("text, problem", [
    ("", "the split is empty"),
    ("a c", "characters not in the vocabulary: 'c'"),
    (b"a \xe9".decode("latin-1"), "characters not in the vocabulary: 'é'"),
])
def test_a_damaged_split_is_one_line_with_its_remedy(tmp_path, text, problem):
    corpus = prepared(tmp_path, test=text)
    with pytest.raises(DataError) as refused:
        read_splits(corpus, ("train", "test"), read_vocab(corpus))
    path = corpus / "test.txt"
    assert str(refused.value) == (f"{path}: {problem}; restore it with `dvc checkout {path}`, or rebuild it with "
                                  "`dvc repro -f -s prepare_corpus`")


def test_a_split_that_is_not_utf8_is_one_line(tmp_path):
    corpus = prepared(tmp_path)
    (corpus / "val.txt").write_bytes(b"a\xe9b")
    with pytest.raises(DataError, match=r"val\.txt: not UTF-8 text; restore it"):
        read_splits(corpus, ("val",), read_vocab(corpus))
