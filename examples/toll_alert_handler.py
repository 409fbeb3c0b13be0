"""The toll booth alerts' destination: a Lambda function with KDA's Lambda output contract.

rowtime (as KDA did) invokes it with {"invocationId", "applicationArn", "records": [{"recordId",
"lambdaDeliveryRecordMetadata": {"retryHint"}, "data": <base64 of one JSON row>}]} and expects
{"records": [{"recordId", "result": "Ok" | "DeliveryFailed"}]} back, every recordId answered.

Each alert is printed (CloudWatch Logs, in AWS) and, when the function's environment sets
ALERTS_FILE, appended to that file as one JSON line. A real deployment would publish it to an
SNS topic here, and answer DeliveryFailed for a record whose publish failed, so that rowtime
sends it again.
"""
import base64
import json
import os


def handler(event, context):
    answers, alerts = [], []
    for record in event["records"]:
        alert = json.loads(base64.b64decode(record["data"]))
        alerts.append(alert)
        print(
            f"ALERT booth {alert['BOOTH_ID']}: {alert['VEHICLES']} vehicles in the half hour from "
            f"{alert['WINDOW_START']}, fewer than {alert['MIN_VEHICLES']}"
        )
        answers.append({"recordId": record["recordId"], "result": "Ok"})
    path = os.environ.get("ALERTS_FILE")
    if path:
        with open(path, "a") as f:
            f.writelines(json.dumps(a) + "\n" for a in alerts)
    return {"records": answers}
