"""Who may publish what: the owner of each topic, and the names its messages may carry."""

from __future__ import annotations

import pytest

from consumers import contract
from consumers.handlers import Delivery
from consumers.publishers import base_topic, check_publisher, load_publishers, parse_publishers
from consumers.refusals import MessageRefused


def test_every_message_topic_has_exactly_one_owner_in_the_shipped_file() -> None:
    publishers = load_publishers()
    owners = {topic: publishers.owner_of(topic) for topic in contract.TOPICS}
    assert {topic: owner.name for topic, owner in owners.items() if owner} == {
        "ledger.persons": "registry", "ledger.contributions": "collection", "ledger.claims": "hospitals",
        "ledger.transfers": "transfers", "ledger.fund": "finance"}


def test_a_claim_from_the_hospitals_on_their_topic_passes() -> None:
    check_publisher("ledger.claims", "claim.outpatient", "his")
    check_publisher("staging.ledger.claims", "claim.inpatient", "hospitals")  # behind a deployment's prefix


@pytest.mark.parametrize(("topic", "type_name", "producer", "field"), [
    ("ledger.claims", "claim.outpatient", "tax", "producer"),  # a hospital signing as the tax bureau
    ("ledger.claims", "expenditure.recorded", "finance", "type"),  # a hospital publishing an expenditure on its topic
    ("t1.ledger.persons", "person.deceased", "his", "producer"),
])
def test_a_message_its_topics_owner_cannot_have_sent_is_refused(topic: str, type_name: str, producer: str, field: str) -> None:
    with pytest.raises(MessageRefused) as refused:
        check_publisher(topic, type_name, producer)
    assert (refused.value.code, refused.value.field) == ("producer_mismatch", field)


def test_a_file_and_other_streams_are_not_checked() -> None:
    check_publisher("file:messages.jsonl", "expenditure.recorded", "anyone")
    assert base_topic("ledger.retry.1") is None and base_topic("t1.ledger.fund") == "ledger.fund"


def test_a_retried_message_is_judged_by_the_topic_it_was_first_published_on() -> None:
    retried = Delivery(b"{}", "t1.ledger.retry.2", 0, 7, origin_id="t1.ledger.claims:2:41", retry_attempt=2)
    assert retried.origin_topic == "t1.ledger.claims"
    assert Delivery(b"{}", "t1.ledger.fund", 1, 3).origin_topic == "t1.ledger.fund"


@pytest.mark.parametrize("document", [
    {},
    {"services": {"a": {"topics": ["ledger.claims"], "producers": ["x"]}}},  # the other topics have no owner
    {"services": {name: {"topics": [topic], "producers": ["x"]} for name, topic in zip("abcde", contract.TOPICS, strict=True)}
     | {"f": {"topics": ["ledger.claims"], "producers": ["y"]}}},  # two owners of one topic
    {"services": {"admin": {"topics": list(contract.TOPICS), "producers": ["x"]}}},  # a reserved principal
])
def test_a_publishers_file_that_leaves_a_topic_ownerless_or_shared_is_refused(document: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        parse_publishers(document)
