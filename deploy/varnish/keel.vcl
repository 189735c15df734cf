vcl 4.1;

# Varnish 7 in front of keel nodes. keel answers with the caching headers
# this file reads; it purges this cache by surrogate key (xkey, from the
# varnish-modules package) once every node holds a change:
#
#   keel serve --edge-purge varnish:http://VARNISH_HOST:6081 ...
#
# What differs per site (the nodes, who may purge) is in keel-site.vcl,
# found on vcl_path: put both files in /etc/varnish. Start varnishd with
# room for long key lists (a page's keys stay under 8 KB per header, and
# keel sends Surrogate-Key and Cache-Tag):
#
#   varnishd -f /etc/varnish/keel.vcl -s malloc,1g \
#     -p http_resp_hdr_len=16k -p http_resp_size=64k -p workspace_backend=256k

import std;
import xkey;
import directors;

include "keel-site.vcl";

sub vcl_recv {
    set req.backend_hint = keel.backend();

    if (req.method == "PURGE") {
        if (client.ip !~ keel_purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.xkey-purge) {
            return (synth(400, "PURGE needs an xkey-purge header naming the keys"));
        }
        # Soft by default: purged objects stay usable for their grace (served
        # stale while one fetch brings the new page) and for revalidation.
        if (req.http.xkey-hard == "1") {
            set req.http.n-gone = xkey.purge(req.http.xkey-purge);
        } else {
            set req.http.n-gone = xkey.softpurge(req.http.xkey-purge);
        }
        return (synth(200, "Invalidated " + req.http.n-gone + " objects"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        # The editor API and anything else: straight to a node, never cached.
        return (pass);
    }
    if (req.url ~ "^/api/v1/" && req.url !~ "^/api/v1/content/") {
        return (pass);
    }
    if (req.url ~ "^/(metrics|healthz|readyz|preview)") {
        return (pass);
    }

    # keel stores every page as brotli, gzip and identity. Varnish's own
    # gzip handling would rewrite Accept-Encoding to gzip and ignore
    # Vary: Accept-Encoding, so the three are told apart here and in
    # vcl_hash instead. Read before Varnish rewrites the header.
    if (req.http.Accept-Encoding ~ "(^|[ ,])br([ ,;]|$)") {
        set req.http.X-Keel-Encoding = "br";
    } elsif (req.http.Accept-Encoding ~ "(^|[ ,])gzip([ ,;]|$)") {
        set req.http.X-Keel-Encoding = "gzip";
    } else {
        set req.http.X-Keel-Encoding = "identity";
    }

    # While the nodes are healthy a stale object is served only for the
    # stale-while-revalidate window keel sends (30 s for its defaults),
    # while one background fetch renews it; when every node is down, for
    # as long as stale-if-error allows (see vcl_backend_response).
    if (std.healthy(req.backend_hint)) {
        set req.grace = 30s;
    }
    # Cookies and Authorization do not change a page keel serves.
    unset req.http.Cookie;
    unset req.http.Authorization;
    return (hash);
}

sub vcl_hash {
    hash_data(req.http.X-Keel-Encoding);
}

sub vcl_backend_fetch {
    if (bereq.http.X-Keel-Encoding == "identity") {
        unset bereq.http.Accept-Encoding;
    } else {
        set bereq.http.Accept-Encoding = bereq.http.X-Keel-Encoding;
    }
    unset bereq.http.X-Keel-Encoding;
}

sub vcl_backend_response {
    # The edge's lifetime: Surrogate-Control's max-age (keel's edge_max_age;
    # Cache-Control's max-age is the browser's).
    if (beresp.http.Surrogate-Control ~ "max-age=[0-9]+") {
        set beresp.ttl = std.duration(
            regsub(beresp.http.Surrogate-Control, "^.*max-age=([0-9]+).*$", "\1") + "s", 0s);
    }
    # Grace: as long as keel allows stale copies when its nodes fail
    # (stale-if-error; vcl_recv limits it while they are healthy).
    if (beresp.http.Surrogate-Control ~ "stale-if-error=[0-9]+") {
        set beresp.grace = std.duration(
            regsub(beresp.http.Surrogate-Control, "^.*stale-if-error=([0-9]+).*$", "\1") + "s", 0s);
    }
    # Kept a while longer for conditional refetches (304s from keel).
    set beresp.keep = 1h;
    # xkey indexes the keys of this header.
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }
    # A node still refreshing its copy answered with the old one: keep it
    # only briefly, so the edge asks again soon.
    if (beresp.http.Cache-Status ~ "fwd=stale") {
        set beresp.ttl = 1s;
    }
    # keel sends its pages compressed as asked; never recompress them.
    set beresp.do_gzip = false;
    set beresp.do_gunzip = false;
    return (deliver);
}

sub vcl_deliver {
    # Edge-only fields never reach browsers.
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
    unset resp.http.Surrogate-Control;
    unset resp.http.Cache-Tag;
    unset resp.http.CDN-Cache-Control;
    unset resp.http.Via;
    unset resp.http.X-Varnish;
    # keel's Cache-Status entry stays; this cache adds its own after it,
    # nearer the user (RFC 9211).
    if (obj.uncacheable) {
        set resp.http.X-Edge-Status = "varnish; fwd=uri-miss";
    } elsif (obj.hits > 0 && obj.ttl <= 0s) {
        set resp.http.X-Edge-Status = "varnish; hit; fwd=stale";
    } elsif (obj.hits > 0) {
        set resp.http.X-Edge-Status = "varnish; hit";
    } else {
        set resp.http.X-Edge-Status = "varnish; fwd=miss; stored";
    }
    if (resp.http.Cache-Status) {
        set resp.http.Cache-Status = resp.http.Cache-Status + ", " + resp.http.X-Edge-Status;
    } else {
        set resp.http.Cache-Status = resp.http.X-Edge-Status;
    }
    unset resp.http.X-Edge-Status;
}
