-- Toll billing: per-account totals every 10 minutes.
--
-- Input: SOURCE_SQL_STREAM_001 (BOOTH_ID, ACCOUNT_ID, VEHICLE_CLASS, AMOUNT, EVENT_TIME), one row per
-- vehicle passing a toll booth. Output: one row per account and 10-minute window in which the account
-- drove through at least one booth, emitted when the window closes, with ROWTIME = the window's end.

CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (
    ACCOUNT_ID    VARCHAR(16),
    WINDOW_START  TIMESTAMP,
    TRIPS         BIGINT,
    TOTAL_AMOUNT  DECIMAL(12,2));

CREATE OR REPLACE PUMP "BILLING_PUMP" AS
    INSERT INTO "DESTINATION_SQL_STREAM"
    SELECT STREAM
        ACCOUNT_ID,
        STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '10' MINUTE) AS WINDOW_START,
        COUNT(*) AS TRIPS,
        SUM(AMOUNT) AS TOTAL_AMOUNT
    FROM "SOURCE_SQL_STREAM_001"
    GROUP BY ACCOUNT_ID, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '10' MINUTE);
