# The site's part of keel.vcl: the keel nodes and who may purge.
# keel.vcl includes this file by name from vcl_path (/etc/varnish).

# Each node, health-checked on /readyz: a starting node reports ready only
# once it is warm, so no reader reaches a cold cache.
probe keel_ready {
    .url = "/readyz";
    .expected_response = 200;
    .timeout = 1s;
    .interval = 2s;
    .window = 5;
    .threshold = 3;
    .initial = 3;
}

backend node_a {
    .host = "127.0.0.1";
    .port = "8080";
    .probe = keel_ready;
    .connect_timeout = 1s;
    .first_byte_timeout = 5s;
}

backend node_b {
    .host = "127.0.0.1";
    .port = "8081";
    .probe = keel_ready;
    .connect_timeout = 1s;
    .first_byte_timeout = 5s;
}

sub vcl_init {
    new keel = directors.round_robin();
    keel.add_backend(node_a);
    keel.add_backend(node_b);
}

# The keel nodes' addresses: only they send PURGE.
acl keel_purgers {
    "127.0.0.1";
    "::1";
}
