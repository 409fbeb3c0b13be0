-- Latency benchmark (live mode): every bid passes straight through. PRICE carries the time the
-- feeder sent the row, in microseconds, so the reader can tell how long the row took.
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (AUCTION BIGINT, PRICE BIGINT);
CREATE OR REPLACE PUMP "PASS_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM AUCTION, PRICE FROM "SOURCE_SQL_STREAM_001";
