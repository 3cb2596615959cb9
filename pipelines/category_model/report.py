"""The training run's quality report as markdown (the Prefect artifact, and ``docs``-style reading)."""

from __future__ import annotations


def report_markdown(card: dict) -> str:
    """Headline figures, then the 20 best and worst categories, of a model card."""
    m = card["metrics"]
    lines = [
        f"# Category model `{card['version']}`",
        "",
        f"Trained {card['trained_at']} on {card['training_products']:,} {card['flavor']} products "
        f"({card['categories']} categories, vocabulary {card['vocab_size']:,}); "
        f"evaluated on {m['products']:,} held-out products at threshold {m['threshold']}"
        + (f"; dump ETag `{card['dump_etag']}`" if card.get("dump_etag") else "")
        + ".",
        "",
        "| metric | micro | macro |",
        "|---|---|---|",
        f"| precision | {m['micro_precision']:.3f} | {m['macro_precision']:.3f} |",
        f"| recall | {m['micro_recall']:.3f} | {m['macro_recall']:.3f} |",
        f"| F1 | {m['micro_f1']:.3f} | {m['macro_f1']:.3f} |",
        "",
        f"precision@1 {m['precision_at_1']:.3f}; coverage (products without categories that get one) "
        f"{m.get('coverage', 0.0):.3f} of {m.get('uncategorized_products', 0):,}.",
    ]
    for title, rows in (("Best categories", m["best"]), ("Worst categories", m["worst"])):
        lines += ["", f"## {title}", "", "| category | F1 | held-out products |", "|---|---|---|"]
        lines += [f"| `{r['category']}` | {r['f1']:.3f} | {r['support']:,} |" for r in rows]
    return "\n".join(lines) + "\n"
