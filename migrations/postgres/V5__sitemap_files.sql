-- The sitemap index lists every sitemap file with its time: one scan of
-- this small index, whatever the collation (a text range on `path` is not
-- a prefix match under a non-C collation).
CREATE INDEX pages_sitemaps ON pages (path) WHERE path LIKE '/sitemaps/%';
