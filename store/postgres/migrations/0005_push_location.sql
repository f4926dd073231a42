-- Where a push request's calling station is (from the server's GeoIP
-- database), shared so that a phone asking any instance sees it.
ALTER TABLE push_requests ADD COLUMN location TEXT NOT NULL DEFAULT '';
