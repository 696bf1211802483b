"""The privacy and terms pages the Teams app package links to (`/privacy`, `/terms`).

Teams requires both links in an app's manifest; ownit serves them itself, worded in
`prompts/cli.yaml`, so the package never points at a page that does not exist. An organisation
with its own policy pages can put a proxy rule in front of these paths.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from bot.messages import sentence

PAGES = {"/privacy": "page_privacy", "/terms": "page_terms"}


def render(key: str) -> str:
    """A small HTML page: the template's first line is its title, the rest its paragraphs."""
    title, *paragraphs = [p.strip() for p in sentence(key).split("\n\n") if p.strip()]
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        f"<title>{escape(title)}</title><h1>{escape(title)}</h1>{body}</html>\n"
    )


def add_routes(web_app: web.Application) -> None:
    for path, key in PAGES.items():

        async def page(request: web.Request, key: str = key) -> web.Response:
            return web.Response(text=render(key), content_type="text/html")

        web_app.router.add_get(path, page)
