"""Checks the emulator wrapper's own changes to moto before any test relies on them.

    python tests/moto_serial_check.py ENDPOINT

`tests/moto_serial.py` replaces moto's whole-table copy in TransactWriteItems with a copy
of the items the transaction names. A cancelled transaction must still leave nothing
behind (an update, a put and a delete before the failing condition), and a transaction
that succeeds must apply every write. Exits non-zero with the table's items otherwise.
"""
import sys
import uuid

import boto3


def main() -> None:
    dynamo = boto3.client(
        "dynamodb",
        endpoint_url=sys.argv[1],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    table = f"wrapper-check-{uuid.uuid4().hex[:8]}"
    dynamo.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )

    def key(pk, sk):
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    def items():
        found = dynamo.scan(TableName=table)["Items"]
        return sorted(found, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))

    def set_v(v):
        return {
            "Update": {
                "TableName": table,
                "Key": key("a", "1"),
                "UpdateExpression": "SET v = :v",
                "ExpressionAttributeValues": {":v": {"N": v}},
            }
        }

    dynamo.put_item(TableName=table, Item={**key("a", "1"), "v": {"N": "1"}})
    dynamo.put_item(TableName=table, Item=key("c", "1"))
    before = items()
    try:
        dynamo.transact_write_items(
            TransactItems=[
                set_v("2"),
                {"Put": {"TableName": table, "Item": key("b", "1")}},
                {"Delete": {"TableName": table, "Key": key("c", "1")}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": key("a", "2"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
        sys.exit("a transaction whose condition fails was applied")
    except dynamo.exceptions.TransactionCanceledException:
        pass
    if items() != before:
        sys.exit(f"a cancelled transaction left writes behind: {items()}")

    dynamo.transact_write_items(
        TransactItems=[
            set_v("2"),
            {"Put": {"TableName": table, "Item": key("b", "1")}},
            {"Delete": {"TableName": table, "Key": key("c", "1")}},
        ]
    )
    expected = [{**key("a", "1"), "v": {"N": "2"}}, key("b", "1")]
    if items() != expected:
        sys.exit(f"a transaction was not applied whole: {items()}")
    dynamo.delete_table(TableName=table)
    print("emulator wrapper: transactions are all or nothing")


if __name__ == "__main__":
    main()
