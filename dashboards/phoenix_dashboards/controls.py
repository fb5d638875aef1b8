"""The sidebar controls several pages share, each made before its page (whose params it then
follows and sets): the price-book select and the fleet-size slider (Compare, Cost,
Cardinality) and the chooser of analysed experiments (Compare, Cost)."""

from __future__ import annotations

import panel as pn
import param

from phoenix_dashboards.template import WIDGET_WIDTH

__all__ = [
    "DEFAULT_BOOK",
    "book_options",
    "experiment_chooser",
    "fleet_slider",
    "follow",
    "price_book_select",
]

DEFAULT_BOOK = ""
"""The price book choice that leaves it to the API (its default book)."""


def book_options(names: list[str]) -> dict[str, str]:
    """The price-book selector's options: the API's default, then every book by name."""
    return {"the API's default": DEFAULT_BOOK, **{name: name for name in names}}


def price_book_select() -> pn.widgets.Select:
    return pn.widgets.Select(
        label="Price book", options=book_options([]), width=WIDGET_WIDTH,
        css_classes=["phoenix-price-book"],
    )  # fmt: skip


def fleet_slider(fleet_hosts: param.Integer[int], **bounds: int) -> pn.widgets.EditableIntSlider:
    """The fleet size: a slider stepping by 100 hosts, with a number box for any size; its
    range is the parameter's unless ``bounds`` (``start``, ``end``) narrows it."""
    return pn.widgets.EditableIntSlider.from_param(
        fleet_hosts, step=100, width=WIDGET_WIDTH, css_classes=["phoenix-fleet-hosts"], **bounds
    )


def experiment_chooser(placeholder: str) -> pn.widgets.MultiChoice:
    return pn.widgets.MultiChoice(
        label="Experiments (analysed)", options={}, width=WIDGET_WIDTH, placeholder=placeholder,
        css_classes=["phoenix-choose-experiments"],
    )  # fmt: skip


def follow(
    page: param.Parameterized,
    books: pn.widgets.Select,
    chooser: pn.widgets.MultiChoice | None = None,
) -> None:
    """Show ``page``'s ``price_book`` in ``books`` (and ``experiments`` in ``chooser``), and set
    them when the user changes a control."""
    chosen = str(page.param.values()["price_book"])
    books.options = book_options([chosen] if chosen else [])
    books.value = chosen
    books.param.watch(lambda e: setattr(page, "price_book", e.new), "value")
    if chooser is not None:
        chooser.param.watch(lambda e: setattr(page, "experiments", list(e.new)), "value")
