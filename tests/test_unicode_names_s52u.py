"""Names and labels that differ only by Unicode; non-ASCII keys on the command line (session 52, u).

- A dict option keyed by a non-ASCII or spaced name (``columns={日付: categorical}``,
  ``columns={'Größe (cm)': numeric}``) failed with Hydra's raw LexerNoViableAltException:
  the grammar's dict keys are ASCII and never quoted. ``overrides.parse`` reads them as
  typed; list items (``exclude=[日付]``) are quoted by ``readable`` for every command.
- The advice printed for such options (``the ingest option 'columns={日付: categorical}'``)
  now reads back, pasted into a shell, as the option it names (``option_word``).
- Class names equal in NFKC (``Café`` composed / decomposed, ``Ａ`` / ``A``) trained as two
  classes without a word; a table's NFD headers, a labels id in another Unicode form and a
  decimal-comma regression label were reported in words that hid why.
References: the dicts and lists written by hand; shlex's own splitting of the printed
advice; numpy's class count; ``unicodedata``.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.errors import DataError, UsageError
from encoderkit.overrides import option_word, parse, parse_args, readable

NFC, NFD = unicodedata.normalize("NFC", "Café"), unicodedata.normalize("NFD", "Café")


def _value(word: str):
    return parse([word])[0].value()


@pytest.mark.parametrize("word, expected", [
    ("columns={日付: categorical}", {"日付": "categorical"}),
    ("columns={Größe: numeric}", {"Größe": "numeric"}),
    ("columns={'Größe (cm)': categorical}", {"Größe (cm)": "categorical"}),
    ('columns={"Größe (cm)": categorical}', {"Größe (cm)": "categorical"}),
    ("columns={Größe (cm): categorical, x: numeric}", {"Größe (cm)": "categorical", "x": "numeric"}),
    ("columns={Size (cm): numeric}", {"Size (cm)": "numeric"}),
    ("columns={\"it's\": exclude, 'a,b': numeric}", {"it's": "exclude", "a,b": "numeric"}),
])
def test_dict_keys_the_grammar_cannot_spell_read_as_typed(word, expected):
    assert _value(word) == expected


def test_values_inside_keep_the_grammars_meaning_and_what_is_typed_wrong_stays_wrong():
    assert _value("columns={a: [ü, 1.5, null, true]}") == {"a": ["ü", 1.5, None, True]}
    # a key spelled like the stand-in ``parse`` uses is the user's: never renamed
    assert _value("columns={encoderkit_key_0: x, 日: y}") == {"encoderkit_key_0": "x", "日": "y"}
    # a bracket never closed, an empty item: the grammar's own error, nothing guessed
    for word in ("exclude=[ü", "columns={ü: b", "exclude=[ü,,b]"):
        assert readable([word]) == [word]
        with pytest.raises(Exception, match="no viable alternative|LexerNoViableAlt"):
            parse([word])


@pytest.mark.parametrize("word, expected", [
    ("exclude=[日付]", ["日付"]),
    ("exclude=[Größe (cm), x]", ["Größe (cm)", "x"]),
    ("exclude=['Größe (cm)', Größe]", ["Größe (cm)", "Größe"]),
    ("channels=[Temp °C, Druck]", ["Temp °C", "Druck"]),
    ("domain.drop_columns=[Größe (cm)]", ["Größe (cm)"]),
])
def test_list_items_are_quoted_for_every_command(word, expected):
    """``readable`` alone (what ingest, pretrain and impute run the words through) reads them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    assert OverridesParser.create().parse_overrides(readable([word]))[0].value() == expected


def test_a_dotted_non_ascii_key_names_the_dict_spelling():
    with pytest.raises(UsageError) as e:
        parse(["columns.Größe=categorical"])
    advice = re.search(r"written as a dict: (.*)$", str(e.value)).group(1)
    assert _value(shlex.split(advice)[0]) == {"Größe": "categorical"}


def test_embed_style_commands_read_the_same_dicts():
    args = parse_args(["columns={'Größe (cm)': numeric}"], {"columns": {}}, (), "embed")
    assert args["columns"] == {"Größe (cm)": "numeric"}


NAMES = ["日付", "Größe (cm)", "Breite, Kelch", 'Länge "Blatt"', "it's", "1", "true", "x: y", "花びら 幅"]


@pytest.mark.parametrize("name", NAMES)
def test_option_word_pasted_into_a_shell_reads_back(name):
    for key, value in (("columns", {name: "categorical"}), ("exclude", [name, "b"]),
                       ("task.label_column", name)):
        typed = shlex.split(option_word(key, value))  # what the shell hands the command
        assert len(typed) == 1 and _value(typed[0]) == value


def test_ingest_advice_for_a_non_ascii_identifier_column_works():
    from domains.tabular.bigids import identifier_override
    from domains.tabular.numcodes import codes_message

    advice = re.search(r"the ingest option (.*) keeps it in", identifier_override("日付")).group(1)
    assert _value(shlex.split(advice)[0]) == {"日付": "categorical"}
    said = codes_message("Größe (cm)", ("1", "01"))
    advice = re.search(r"\); (.*) reads it as numbers", said).group(1)
    assert _value(shlex.split(advice)[0]) == {"Größe (cm)": "numeric"}


def test_ingest_excludes_non_ascii_columns_from_a_list(tmp_path):
    from encoderkit.data.ingest import run
    from encoderkit.data.store import RecordStore

    src = tmp_path / "g.csv"
    pd.DataFrame({"日付": [f"id{i}" for i in range(30)], "Größe (cm)": [i % 3 for i in range(30)],
                  "x": np.arange(30.0)}).to_csv(src, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert run("ingest", ["domain=tabular", f"input={src}", f"output={tmp_path / 'g.zarr'}",
                              "progress=false", "exclude=[日付, Größe (cm)]"]) == 0
    names = [c["name"] for c in RecordStore(str(tmp_path / "g.zarr")).schema["columns"]]
    assert names == ["x"]


# ---------------------------------------------------------------- labels


def test_labels_equal_in_nfkc_are_said_as_two_classes():
    from encoderkit.tasks.label_encode import CASE_VARIANTS, case_variants_said

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        case_variants_said([NFC, NFD, "Tee", "A", "\uff21"], "labels.csv")
    said = [str(w.message) for w in caught]
    assert len(said) == 1 and said[0].startswith(CASE_VARIANTS)  # the ensemble's filter still matches
    assert ascii(NFC) in said[0] and ascii(NFD) in said[0] and "'\\uff21'" in said[0]
    assert "Unicode form" in said[0] and "Tee" not in said[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        case_variants_said([NFC, "Tee", "A"], "labels.csv")  # no twins: nothing said


def test_probe_says_the_twins_it_scores_as_two_classes():
    from encoderkit.infer.probe import probe

    rng = np.random.default_rng(0)
    y = np.array([NFC, NFD, "Tee"] * 20)
    assert len(np.unique(y)) == 3  # the reference: numpy (and scikit-learn) count three classes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probe(rng.normal(size=(60, 4)), y, "classification", folds=2)
    assert any("Unicode form" in str(w.message) and ascii(NFD) in str(w.message) for w in caught)


def test_nfd_table_headers_are_named_as_the_models_columns():
    from domains.tabular.domain import TabularDomain

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"Größe (cm)": rng.normal(size=40), "Länge": rng.normal(size=40),
                          "x": rng.normal(size=40)})
    domain = TabularDomain.from_frame(frame)
    nfd = frame.rename(columns=lambda c: unicodedata.normalize("NFD", c))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        domain.to_records(nfd)
    said = [str(w.message) for w in caught if "absent" in str(w.message)]
    assert len(said) == 1 and "2 of the model's 3 columns are absent" in said[0]
    for name in ("Größe (cm)", "Länge"):
        assert ascii(unicodedata.normalize("NFD", name)) in said[0] and ascii(name) in said[0]
    assert "2 of them are in the table under the same name in another Unicode form" in said[0]


def test_a_labels_id_in_another_unicode_form_is_said():
    from encoderkit.tasks.label_align import find_record, record_index

    ids = np.array([unicodedata.normalize("NFD", "café_3"), "b"])
    with pytest.raises(DataError) as e:
        find_record(record_index(ids), "café_3", 2, ids, "labels.csv")
    assert "once both are Unicode-normalised" in str(e.value) and ascii(str(ids[0])) in str(e.value)
    with pytest.raises(DataError) as e:  # no twin: the message as before
        find_record(record_index(ids), "zzz", 2, ids, "labels.csv")
    assert "Unicode" not in str(e.value)


@pytest.mark.parametrize("text, number", [("0,0", "0.0"), ("-1.234,5", "-1234.5"), ("12,5", "12.5")])
def test_a_decimal_comma_regression_label_is_named(text, number):
    from encoderkit.tasks.label_encode import _number

    with pytest.raises(DataError, match=rf"{re.escape(repr(text))} is not a number \(it reads as "
                                        rf"{re.escape(repr(float(number)))} with a decimal comma.*: "
                                        rf"{re.escape(number)}\)"):
        _number(text, "labels.csv", "row 2")
    with pytest.raises(DataError) as e:
        _number("abc", "labels.csv", "row 2")
    assert "decimal comma" not in str(e.value)
