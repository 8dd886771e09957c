"""The harness's own tests: Redis and the AWS endpoint come up, can be used, and go down."""

from __future__ import annotations

import boto3
import redis

from speedrun_testkit import AwsEndpoint, RedisServer, wait_until


def test_redis_server_starts_answers_and_stops() -> None:
    server = RedisServer().start()
    try:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        client.close()
    finally:
        server.close()
    assert server.proc is None
    try:
        redis.Redis.from_url(server.url, socket_connect_timeout=0.5).ping()
        raise AssertionError("redis still answers after close()")
    except redis.ConnectionError:
        pass


def test_redis_server_restart_loses_data() -> None:
    server = RedisServer().start()
    try:
        redis.Redis.from_url(server.url).set("k", "v")
        server.stop()
        server.start()
        assert redis.Redis.from_url(server.url).get("k") is None
    finally:
        server.close()


def test_redis_url_fixture_is_flushed(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() == 0
    client.set("leftover", "1")


def test_aws_endpoint_queue_and_table_work(aws_env: str) -> None:
    sqs = boto3.client("sqs", endpoint_url=aws_env, region_name="us-east-1")
    url = sqs.create_queue(QueueName="harness-q")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert got[0]["Body"] == "hello"
    ddb = boto3.client("dynamodb", endpoint_url=aws_env, region_name="us-east-1")
    ddb.create_table(
        TableName="harness-t",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="harness-t", Item={"pk": {"S": "a"}})
    assert ddb.get_item(TableName="harness-t", Key={"pk": {"S": "a"}})["Item"]["pk"]["S"] == "a"


def test_aws_endpoint_moto_stops_on_close() -> None:
    endpoint = AwsEndpoint().start()
    proc = endpoint.proc
    endpoint.close()
    if proc is not None:  # moto was started by us: it must be gone
        assert proc.poll() is not None


def test_wait_until_times_out() -> None:
    try:
        wait_until(lambda: False, timeout=0.1, what="never")
        raise AssertionError("wait_until returned")
    except TimeoutError as exc:
        assert "never" in str(exc)
