"""Option words with names Hydra's grammar cannot spell reach ``impute`` (its own word
parser), and the advice messages print words that parse back (session 52, after helper u's
``overrides.parse`` / ``option_word``)."""

from __future__ import annotations

import shlex

import pandas as pd
import pytest

from encoderkit.errors import DataError
from encoderkit.impute_cli import parse


def test_impute_reads_a_columns_dict_with_non_ascii_and_quoted_keys():
    own, passed, ingest = parse(["input=t.csv", "output=o.csv", "columns={日付: categorical, 'Größe (cm)': numeric}",
                                 "exclude=[Größe (cm)]", "train.steps=3"])
    assert own["input"] == "t.csv" and passed == ["train.steps=3"]
    assert ingest["columns"] == {"日付": "categorical", "Größe (cm)": "numeric"}
    assert ingest["exclude"] == ["Größe (cm)"]


def test_the_sets_feature_columns_advice_parses_back_to_the_names(tmp_path):
    from encoderkit.data.ingest import ingest

    path = tmp_path / "s.csv"
    pd.DataFrame({"set": ["a", "a", "b", "b", "c"], "Größe (cm)": [1.0, 2.0, 3.0, 4.0, 5.0],
                  "Farbe": ["1", "x", "2", "3", "4"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match="feature_columns") as e:
        ingest("sets", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    word = next(w for w in shlex.split(str(e.value).split("features with ", 1)[1]) if w.startswith("feature_columns="))
    _, _, ingest = parse(["input=x", "output=y", word])
    assert ingest["feature_columns"] == ["Größe (cm)"]


def test_a_list_with_a_stray_closing_brace_stays_a_list_review_r2():
    from encoderkit.overrides import parse as parse_words

    assert parse_words(["exclude=[a}b]"])[0].value() == ["a}b"]  # was the text '[a}b]'
    assert parse_words(["k={a}.csv"])[0].value() == "{a}.csv"  # a name after its bracket: as before


@pytest.mark.parametrize("name", ["C:\\tmp\\", "\\", "a\\", 'q"x\\', "plain", "Größe (cm)"])
def test_advice_for_a_name_ending_in_a_backslash_parses_back(name):
    from encoderkit.overrides import option_word
    from encoderkit.overrides import parse as parse_words

    word = option_word("exclude", [name])
    assert parse_words(shlex.split(word))[0].value() == [name]
