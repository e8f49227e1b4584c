"""Filter fields shared by the native API's FilterSets."""

from __future__ import annotations

import django_filters
from django import forms

from evalhub.api.serializers import MAX_ID


class IdFilter(django_filters.NumberFilter):
    """An object id in the query string: a whole number the database's bigint can hold.

    django-filter's NumberFilter takes any decimal, and a huge one reaches the
    database as an integer it cannot bind (a 500 instead of a 400).
    """

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)
