"""Check every internal link of a built HTML site: each relative `href`/`src` must name an existing file, and each
`#fragment` an element id (or anchor name) of the target page. External links (http, https, mailto, ...) are counted
but not fetched: the build machine has no internet."""
from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"): self.ids.add(a["id"])
        if tag == "a" and a.get("name"): self.ids.add(a["name"])
        for key in ("href", "src"):
            if a.get(key) is not None and not (tag == "link" and a.get("rel") in ("preconnect", "dns-prefetch")):
                self.links.append(a[key])


def _parse(path: Path):
    c = _Collector()
    c.feed(path.read_text(errors="replace"))
    return c


def check_site(site: Path):
    "Return (problems, pages checked, internal links checked) for the HTML files under `site`."
    site = Path(site)
    pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)  # theme templates
    parsed, problems, n = {}, [], 0

    def get(p):
        if p not in parsed: parsed[p] = _parse(p)
        return parsed[p]

    for page in pages:
        for link in get(page).links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//") or link.startswith("javascript:") or link.startswith("data:"): continue
            n += 1
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir(): target = target / "index.html"
            where = f"{page.relative_to(site)} -> {link}"
            if not target.exists():
                problems.append(f"{where} (no such file)"); continue
            if not str(target).startswith(str(site.resolve())) and not str(target).startswith(str(site)):
                problems.append(f"{where} (points outside the site)"); continue
            frag = unquote(parts.fragment)
            if frag and target.suffix == ".html" and frag not in get(target).ids:
                problems.append(f"{where} (no element with id {frag!r})")
    return problems, len(pages), n


if __name__ == "__main__":
    problems, pages, links = check_site(Path(sys.argv[1] if len(sys.argv) > 1 else "_site"))
    print("\n".join(problems))
    print(f"{pages} pages, {links} internal links, {len(problems)} broken")
    sys.exit(1 if problems else 0)
