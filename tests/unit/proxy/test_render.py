"""nginx configuration and the devstack page, rendered from a route table."""

from __future__ import annotations

import json

import pytest

from devstack.proxy.render import RenderError, Site, render
from devstack.proxy.routes import Backend, Route, Table, Unrouted

ROUTES = (
    Route(
        "shop", "shop", "web", "local", (Backend("172.30.0.2", 80, "shop-web-1", "shop_default"),), web=True
    ),
    Route("web.shop", "shop", "web", "local", (Backend("172.30.0.2", 80, "shop-web-1", "shop_default"),)),
    Route(
        "api.shop",
        "shop",
        "api",
        "local",
        (Backend("172.30.0.3", 8000, "shop-api-1"), Backend("fd00::5", 8000, "x")),
    ),
)


def test_routes_become_upstreams_and_servers():
    files = render(Table(ROUTES, ()), Site(port=8080), 7)
    conf = files["routes.conf"]
    assert "server_name shop.localhost;" in conf
    assert "server_name api.shop.localhost;" in conf
    assert "server 172.30.0.3:8000;" in conf and "server [fd00::5]:8000;" in conf
    assert "proxy_pass http://route_shop;" in conf
    main = files["nginx.conf"]
    assert "include routes.conf;" in main  # relative: resolved inside the same generation
    assert 'return 200 "7\\n";' in main
    assert "listen 8081" not in main  # no API unless asked


def test_api_server_only_when_asked():
    main = render(Table(), Site(api=True, watcher_host="p-watcher"), 1)["nginx.conf"]
    assert "listen 8081;" in main and "set $watcher p-watcher:8700;" in main


def test_page_lists_projects_with_links_and_escapes_reasons():
    table = Table(ROUTES, (Unrouted("blog", "local", "web is <stopped>"),))
    page = render(table, Site(port=8080), 1)["index.html"]
    assert 'href="http://shop.localhost:8080/"' in page
    assert 'href="http://api.shop.localhost:8080/"' in page
    assert "web is &lt;stopped&gt;" in page
    assert '<!--# echo var="host"' in page  # nginx fills in the host that was asked for


def test_port_80_has_no_suffix():
    doc = json.loads(render(Table(ROUTES), Site(port=80), 1)["routes.json"])
    assert doc["routes"][0]["url"] == "http://shop.localhost/"
    assert {r["host"] for r in doc["routes"]} == {
        "shop.localhost",
        "web.shop.localhost",
        "api.shop.localhost",
    }


@pytest.mark.parametrize(
    "route",
    [
        Route("shop;evil", "shop", "web", "x", (Backend("10.0.0.1", 80, "c"),)),
        Route("shop", "shop", "web", "x", (Backend("10.0.0.1; include /etc/passwd", 80, "c"),)),
        Route("shop", "shop", "web", "x", (Backend("10.0.0.1}", 80, "c"),)),
    ],
)
def test_nothing_unsafe_reaches_nginx(route):
    with pytest.raises(RenderError):
        render(Table((route,)), Site(), 1)


def test_comments_cannot_break_out_of_their_line():
    route = Route("shop", "shop", "web", "eng\ninclude x;", (Backend("10.0.0.1", 80, "c\n}"),))
    conf = render(Table((route,)), Site(), 1)["routes.conf"]
    assert "\ninclude x;" not in conf and "\n}" not in conf.split("server 10.0.0.1:80;")[1].split("\n")[0]


def test_bad_domain_is_refused():
    with pytest.raises(RenderError):
        render(Table(), Site(domain="a b"), 1)
