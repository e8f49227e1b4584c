"""The deterministic text metrics: exact_match, contains, not_contains, regex_match,
starts_with, one_of, numeric_close, levenshtein, fuzzy_ratio, length_between."""

import pytest

from runs.metrics import Sample, all_metrics, get_metric


def score(slug, output, expected=None, **args):
    metric = get_metric(slug)
    return metric.score(Sample(output=output, expected_output=expected), metric.validate_args(args))


# Args that make each metric usable, for the edge cases every metric must survive.
USABLE = {
    "contains": {"substrings": ["a"]},
    "not_contains": {"substrings": ["a"]},
    "regex_match": {"pattern": "a"},
    "one_of": {"choices": ["a"]},
    "json_schema": {"schema": {"type": "object"}},
}
LOCAL = [m for m in all_metrics() if m.kind in ("deterministic", "statistical")]


@pytest.mark.parametrize("metric", LOCAL, ids=lambda m: m.slug)
def test_every_local_metric_scores_an_empty_output_without_raising(metric):
    args = metric.validate_args(USABLE.get(metric.slug, {}))
    result = metric.score(Sample(output="", expected_output="Paris"), args)
    assert isinstance(result.passed, bool) and result.reason
    assert 0.0 <= result.value <= 1.0


@pytest.mark.parametrize(
    "metric", [m for m in LOCAL if "expected_output" in m.requires], ids=lambda m: m.slug
)
def test_every_comparison_metric_fails_clearly_without_an_expected_output(metric):
    result = metric.score(Sample(output="Paris"), metric.validate_args({}))
    assert result.passed is False and result.value == 0.0
    assert result.reason == "The record has no expected output to compare with."


# --- exact_match ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "output, expected, args, passed",
    [
        ("Paris", "Paris", {}, True),
        ("Lyon", "Paris", {}, False),
        ("  Paris \n", "Paris", {}, True),
        ("New   York\tCity", "New York City", {}, True),
        ("New  York", "New York", {"strip_whitespace": False}, False),
        ("paris", "Paris", {}, False),
        ("PARIS", "Paris", {"case_sensitive": False}, True),
        ("Straße", "STRASSE", {"case_sensitive": False}, True),
        ("Paris!", "Paris", {}, False),
        ("Paris!", "Paris", {"ignore_punctuation": True}, True),
        ("« Paris » — capitale…", "Paris capitale", {"ignore_punctuation": True}, True),
        ("$5", "5", {"ignore_punctuation": True}, True),
        ("5 €", "5", {"ignore_punctuation": True}, False),
        ("café", "cafe\u0301", {}, True),
        ("東京。", "東京", {"ignore_punctuation": True}, True),
        ("", "", {}, True),
        ("", "x", {}, False),
    ],
)
def test_exact_match(output, expected, args, passed):
    result = score("exact_match", output, expected, **args)
    assert result.passed is passed and result.value == (1.0 if passed else 0.0)


def test_exact_match_shows_both_sides_when_it_fails():
    assert score("exact_match", "Lyon", "Paris").reason == "Expected 'Paris', got 'Lyon'."


# --- contains / not_contains -----------------------------------------------------------


def test_contains_all_passes_only_when_every_substring_is_there():
    assert score("contains", "Refund within 14 days.", substrings=["Refund", "14"]).passed is True
    result = score("contains", "Refund soon.", substrings=["Refund", "14"])
    assert result.passed is False and result.value == 0.5
    assert result.reason == "Missing: '14'."


def test_contains_any_passes_when_one_substring_is_there():
    assert score("contains", "Refund soon.", substrings=["14", "Refund"], mode="any").passed
    assert not score("contains", "No.", substrings=["14", "Refund"], mode="any").passed


def test_contains_is_case_sensitive_unless_told_otherwise():
    assert score("contains", "REFUND", substrings=["refund"]).passed is False
    assert score("contains", "REFUND", substrings=["refund"], case_sensitive=False).passed is True


def test_contains_finds_unicode_substrings():
    assert score(
        "contains", "Die Straße ist nass 🌧", substrings=["STRASSE", "🌧"], case_sensitive=False
    ).passed


def test_not_contains_passes_when_none_appear():
    result = score("not_contains", "All good.", substrings=["error", "sorry"])
    assert result.passed is True and result.value == 1.0 and result.reason == "None found."


def test_not_contains_fails_naming_what_appeared():
    result = score("not_contains", "Sorry, an error.", substrings=["error", "sorry", "oops"])
    assert result.passed is False and result.reason == "Found: 'error'."
    assert result.value == pytest.approx(2 / 3)


def test_not_contains_any_passes_while_at_least_one_is_absent():
    subs = ["error", "sorry"]
    assert score("not_contains", "sorry", substrings=subs, mode="any").passed is True
    assert score("not_contains", "sorry, error", substrings=subs, mode="any").passed is False


def test_not_contains_empty_output_contains_nothing():
    assert score("not_contains", "", substrings=["error"]).passed is True


# --- regex_match ---------------------------------------------------------------------


def test_regex_match_searches_anywhere_by_default():
    result = score("regex_match", "Order #1234 shipped", pattern=r"#\d{4}\b")
    assert result.passed is True and result.value == 1.0


def test_regex_match_fails_when_nothing_matches():
    result = score("regex_match", "Order shipped", pattern=r"#\d{4}")
    assert (
        result.passed is False and result.reason == "Pattern '#\\\\d{4}' does not match the output."
    )


def test_regex_match_full_match_needs_the_whole_output():
    assert score("regex_match", "#1234 shipped", pattern=r"#\d{4}", full_match=True).passed is False
    assert score("regex_match", "#1234", pattern=r"#\d{4}", full_match=True).passed is True


def test_regex_match_case_insensitive_and_inline_flags():
    assert score("regex_match", "ABC", pattern="abc", case_sensitive=False).passed is True
    assert score("regex_match", "ABC", pattern="abc").passed is False
    assert score("regex_match", "a\nb", pattern="(?s)a.b").passed is True
    assert score("regex_match", "x\nend", pattern="(?m)^end$").passed is True


def test_regex_match_matches_unicode_by_character():
    assert score("regex_match", "Grüße aus Köln", pattern=r"^Gr.ße \w+ K.ln$").passed is True
    assert score("regex_match", "価格は500円", pattern=r"\d+円").passed is True


def test_regex_match_on_an_empty_output():
    assert score("regex_match", "", pattern="^$").passed is True
    assert score("regex_match", "", pattern="a").passed is False


def test_a_catastrophic_pattern_cannot_wedge_the_worker():
    # Python's backtracking `re` would never finish this search; RE2 is linear.
    assert score("regex_match", "a" * 50_000 + "!", pattern="(a+)+$").passed is False
    assert (
        score("regex_match", "a" * 50_000 + "!", pattern="(a|aa)+$", full_match=True).passed
        is False
    )


# --- starts_with ---------------------------------------------------------------------


def test_starts_with_the_given_prefix():
    assert score("starts_with", "Yes, you can.", prefix="Yes").passed is True
    result = score("starts_with", "No, sorry.", prefix="Yes")
    assert result.passed is False and result.reason == "Output does not start with 'Yes'."


def test_starts_with_uses_the_expected_output_when_no_prefix_is_given():
    assert score("starts_with", "Paris, of course.", "Paris").passed is True
    assert score("starts_with", "Lyon.", "Paris").passed is False


def test_starts_with_ignores_leading_whitespace_and_optionally_case():
    assert score("starts_with", "\n  Yes!", prefix="Yes").passed is True
    assert score("starts_with", "yes!", prefix="YES").passed is False
    assert score("starts_with", "yes!", prefix="YES", case_sensitive=False).passed is True


def test_starts_with_edge_cases():
    assert score("starts_with", "", prefix="Yes").passed is False
    assert score("starts_with", "Ünïcödé ok", prefix="Ünï").passed is True
    missing = score("starts_with", "anything")
    assert missing.passed is False and missing.reason == (
        "No prefix given and no expected output to use."
    )


# --- one_of --------------------------------------------------------------------------


def test_one_of_accepts_an_allowed_label_trimmed_and_caseless_by_default():
    assert score("one_of", "  Positive\n", choices=["positive", "negative"]).passed is True


def test_one_of_refuses_anything_else():
    result = score("one_of", "neutral", choices=["positive", "negative"])
    assert (
        result.passed is False and result.reason == "'neutral' is not one of the allowed answers."
    )
    assert score("one_of", "positive.", choices=["positive"]).passed is False


def test_one_of_can_be_case_sensitive():
    assert score("one_of", "Positive", choices=["positive"], case_sensitive=True).passed is False


def test_one_of_edge_cases():
    assert score("one_of", "", choices=["yes", "no"]).passed is False
    assert score("one_of", "ÉTÉ", choices=["été"]).passed is True


# --- numeric_close -------------------------------------------------------------------


@pytest.mark.parametrize(
    "output, expected, args, passed",
    [
        ("The answer is 42.", "42", {}, True),
        ("The answer is 41.", "42", {}, False),
        ("about 99", "100", {"abs_tol": 1}, True),
        ("about 98", "100", {"abs_tol": 1}, False),
        ("about 99.5", "100", {"rel_tol": 0.01}, True),
        ("about 98", "100", {"rel_tol": 0.01}, False),
        ("Total: 1,000.5 USD", "1000.5", {}, True),
        ("Il fait 3,14", "3.14", {}, True),
        ("-2.5e3 metres", "-2500", {}, True),
        ("0.1 + 0.2 = 0.30000000000000004", "0.1", {}, True),
        ("Temperatur: −5 °C", "-5", {}, True),
        ("Temperatur: −5 °C", "5", {}, False),
    ],
)
def test_numeric_close(output, expected, args, passed):
    assert score("numeric_close", output, expected, **args).passed is passed


def test_numeric_close_reads_the_first_number_of_each_side():
    result = score("numeric_close", "It is 7, not 8.", "Answer: 7")
    assert result.passed is True and result.reason == "7 is within tolerance of 7."


def test_numeric_close_fails_text_without_numbers_with_a_reason():
    assert score("numeric_close", "no idea", "100").reason == "Output has no number."
    assert score("numeric_close", "", "100").reason == "Output has no number."
    assert score("numeric_close", "100", "a hundred").reason == "Expected output has no number."


# --- levenshtein and fuzzy_ratio -------------------------------------------------------


def test_levenshtein_is_normalised_similarity_passing_at_the_threshold():
    result = score("levenshtein", "kitten", "sitting", threshold=0.5)
    assert result.value == pytest.approx(1 - 3 / 7)
    assert result.passed is True and result.reason == "Similarity 0.571 ≥ 0.5."
    assert score("levenshtein", "kitten", "sitting").passed is False  # default threshold 0.8


def test_levenshtein_identical_texts_score_one_even_when_empty():
    assert score("levenshtein", "Zürich", "Zürich").value == 1.0
    assert score("levenshtein", "", "").value == 1.0
    assert score("levenshtein", "", "abc").value == 0.0


def test_levenshtein_case_and_whitespace():
    assert score("levenshtein", "PARIS", "paris").value == 0.0
    assert score("levenshtein", "PARIS", "paris", case_sensitive=False).value == 1.0
    assert score("levenshtein", "  New   York ", "New York").value == 1.0


def test_fuzzy_ratio_methods():
    words = ("new york city", "city new york")
    assert score("fuzzy_ratio", *words).value < 0.8
    assert score("fuzzy_ratio", *words, method="token_sort_ratio").value == 1.0
    assert (
        score("fuzzy_ratio", "the new york city", "new york", method="token_set_ratio").value == 1.0
    )
    assert (
        score("fuzzy_ratio", "I live in new york", "new york", method="partial_ratio").value == 1.0
    )


def test_fuzzy_ratio_passes_by_threshold_and_ignores_case_by_default():
    result = score("fuzzy_ratio", "Paris", "paris")
    assert result.value == 1.0 and result.passed is True
    assert score("fuzzy_ratio", "Paris", "Lyon").passed is False
    assert score("fuzzy_ratio", "Paris", "paris", case_sensitive=True).value < 1.0


def test_fuzzy_ratio_with_unicode():
    assert score("fuzzy_ratio", "Müller", "Mueller").value > 0.7
    assert score("fuzzy_ratio", "東京タワー", "東京タワー").value == 1.0


# --- length_between ------------------------------------------------------------------


def test_length_between_counts_characters_by_default():
    result = score("length_between", "x" * 10, max_length=10)
    assert result.passed is True and result.value == 1.0
    assert result.reason == "10 chars, within [0, 10]."
    result = score("length_between", "x" * 11, max_length=10)
    assert result.passed is False and result.value == 0.0
    assert result.reason == "11 chars, outside [0, 10]."


def test_length_between_counts_words():
    assert score(
        "length_between", "one two  three", min_length=3, max_length=3, unit="words"
    ).passed
    assert not score("length_between", "one two", min_length=3, unit="words").passed


def test_length_between_has_no_maximum_unless_given():
    assert score("length_between", "x" * 100_000).passed is True
    assert score("length_between", "x" * 100_000).reason == "100000 chars, within [0, ∞]."


def test_length_between_edge_cases():
    assert score("length_between", "").passed is True
    assert score("length_between", "", min_length=1).passed is False
    assert score("length_between", "日本語", max_length=3).passed is True  # characters, not bytes
