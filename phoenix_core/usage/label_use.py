"""Which labels of one metric a query depends on: named ones, and possibly "all labels but …".

``LabelUse.uses(label)`` is the one answer to "may a pipeline drop this label of this metric
without changing what the query returns?": ``False`` only when the query neither names the
label nor lets it (or the series it tells apart) reach its result. See docs/usage.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["LabelUse"]


@dataclass(frozen=True, slots=True)
class LabelUse:
    """Labels a query depends on: ``names`` it names, plus every other label when ``all_labels``
    is set, except ``all_except`` (labels a ``sum without (…)`` removes before anything sees them).

    ``all_except`` is kept disjoint from ``names`` (a named label is used, whatever removes it
    elsewhere) and empty unless ``all_labels``.
    """

    names: frozenset[str] = frozenset()
    all_labels: bool = False
    all_except: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Normalised once here so that equal uses compare equal.
        names = frozenset(self.names)
        except_ = frozenset(self.all_except) - names if self.all_labels else frozenset()
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "all_except", except_)

    @classmethod
    def named(cls, labels: Iterable[str]) -> LabelUse:
        """Exactly these labels."""
        return cls(names=frozenset(labels))

    @classmethod
    def every(cls, *, names: Iterable[str] = (), but: Iterable[str] = ()) -> LabelUse:
        """Every label except ``but``; ``names`` records the labels the query names as well."""
        return cls(names=frozenset(names), all_labels=True, all_except=frozenset(but))

    def uses(self, label: str) -> bool:
        """Whether dropping ``label`` could change the query's result."""
        return label in self.names or (self.all_labels and label not in self.all_except)

    def union(self, other: LabelUse) -> LabelUse:
        """The labels either use depends on (a metric read twice, or by two queries)."""
        if self.all_labels and other.all_labels:
            except_ = self.all_except & other.all_except
        elif self.all_labels:
            except_ = self.all_except
        else:
            except_ = other.all_except
        return LabelUse(
            names=self.names | other.names,
            all_labels=self.all_labels or other.all_labels,
            all_except=except_,
        )

    __or__ = union

    def __str__(self) -> str:
        named = ", ".join(sorted(self.names))
        if not self.all_labels:
            return named or "no labels"
        text = "all labels"
        if self.all_except:
            text += " except " + ", ".join(sorted(self.all_except))
        return f"{text} (named: {named})" if named else text
