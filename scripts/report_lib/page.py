"""The HTML page: one file that opens offline. Plots are embedded as data URIs (the PNG files
beside it are for reuse in slides and issues), the style sheet is inline, no script runs."""
import base64
import html
from dataclasses import dataclass
from typing import List, Sequence, Tuple, Union

from .tables import Table

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1500px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-top: 1.5em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.5em; white-space: nowrap; }
th { background: #f3f3f3; } td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child { text-align: left; }
td.skip { color: #888; } td.bad { background: #fde2e2; color: #900; } td.noisy { background: #fff4d6; }
td.why { color: #888; font-size: 0.85em; white-space: normal; max-width: 22em; text-align: left; }
details { font-size: 0.85em; margin: 0.5em 0; } details li { white-space: pre-wrap; }
.note { color: #555; font-size: 0.85em; } .warn { color: #a00; font-weight: bold; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
ul.context { font-size: 0.9em; }
"""


@dataclass
class Plot:
    file_name: str  # the PNG beside index.html
    png: bytes
    caption: str


@dataclass
class Context:
    """One results file's header lines: (key, value, is_warning)."""
    path: str
    tag: str
    version: int
    lines: List[Tuple[str, str, bool]]


@dataclass
class Details:
    """A collapsed list: what a reader may open, not what they must read."""
    summary: str
    lines: List[str]


Item = Union[Plot, Table, Details, str]


def e(text) -> str:
    return html.escape(str(text), quote=True)


def plot_html(p: Plot) -> str:
    data = base64.b64encode(p.png).decode("ascii")
    return (f'<figure><a href="{e(p.file_name)}"><img src="data:image/png;base64,{data}" alt="{e(p.caption)}">'
            f'</a><figcaption>{e(p.caption)} ({e(p.file_name)})</figcaption></figure>')


def table_html(t: Table) -> str:
    out = [f"<h3>{e(t.title)}</h3>"]
    if t.note:
        out.append(f'<p class="note">{e(t.note)}</p>')
    if t.rows:
        out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in t.header) + "</tr>")
        for row in t.rows:
            cells = []
            for c in row:
                if not c.text and c.title and c.kind == "skip":  # a blank cell of a comparison says why
                    cells.append(f'<td class="why">{e(c.title)}</td>')
                    continue
                attrs = (f' class="{c.kind}"' if c.kind else "") + (f' title="{e(c.title)}"' if c.title else "")
                cells.append(f"<td{attrs}>{e(c.text)}</td>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</table>")
    return "\n".join(out)


def item_html(item: Item) -> str:
    if isinstance(item, Plot):
        return plot_html(item)
    if isinstance(item, Table):
        return table_html(item)
    if isinstance(item, Details):
        lines = "".join(f"<li>{e(line)}</li>" for line in item.lines)
        return f"<details><summary>{e(item.summary)}</summary><ul>{lines}</ul></details>"
    return f'<p class="note">{e(item)}</p>'


def context_html(c: Context) -> str:
    head = f"<h3>{e(c.tag or c.path)}</h3><p class=\"note\">{e(c.path)}, results format version {c.version}</p>"
    lines = "".join(f'<li{" class=warn" if warn else ""}>{e(k)}: {e(v)}</li>' for k, v, warn in c.lines)
    return head + f'<ul class="context">{lines}</ul>'


def page_html(title: str, contexts: Sequence[Context], sections: Sequence[Tuple[str, Sequence[Item]]]) -> str:
    anchors = [f"s{i}" for i in range(len(sections))]
    toc = "".join(f'<li><a href="#{a}">{e(h)}</a></li>' for a, (h, _) in zip(anchors, sections))
    body = [f"<h1>{e(title)}</h1>", f"<ul>{toc}</ul>", "<h2>Files</h2>"] + [context_html(c) for c in contexts]
    for anchor, (heading, items) in zip(anchors, sections):
        body.append(f'<h2 id="{anchor}">{e(heading)}</h2>')
        body.extend(item_html(i) for i in items)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
