"""Scoring against ground truth (pure) and the MQTT byte count of the simulation transport."""

from __future__ import annotations

import pytest

from binhai._sim._wire import publish_size, subscribe_size
from firmware_sim import Label
from firmware_sim._score import AlertRow, Delivery, score


def _alert(device: str, sensor: str, start: float, end: float, raised: float) -> AlertRow:
    return AlertRow(device, sensor, "x", start, end, raised, 1.0, 1)


def _score(alerts: list[AlertRow], **kw: object) -> dict[str, object]:
    labels = [
        Label("d1", "accel", "fall", "event", 100.0, 120.0),
        Label("d1", "ppg", "stuck", "sensor_fault", 300.0, 330.0),
        Label("d2", "accel", "tremor", "event", 50.0, 80.0),
        Label("d2", "", "reboot", "device_fault", 10.0, 20.0),
    ]
    args: dict[str, object] = dict(
        labels=labels,
        alerts=alerts,
        anomalous=[("d1", "accel", 100.0, 2.0, True), ("d1", "accel", 102.0, 2.0, False)],
        window_s={("d1", "accel"): 2.0, ("d1", "ppg"): 5.0, ("d2", "accel"): 2.0},
        bytes_up=50,
        all_cloud_bytes=1000,
        delivery=Delivery(10, 7, 3, 1, 1),
        device_hours=2.0,
    )
    args.update(kw)
    return score(**args)  # type: ignore[arg-type]


def test_recall_precision_latency_by_the_definitions() -> None:
    alerts = [
        _alert("d1", "accel", 101.0, 105.0, 103.0),  # the fall, 1.5 windows late
        _alert("d1", "ppg", 333.0, 340.0, 335.0),  # stuck, within t_off + 2 windows (340)
        _alert("d2", "ppg", 60.0, 70.0, 60.0),  # right time, wrong sensor: false
        _alert("d1", "accel", 500.0, 510.0, 500.0),  # nothing happened: false
    ]
    s = _score(alerts)
    # the tremor was missed; the reboot is not scored
    assert s["event_recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["alert_precision"] == 0.5
    assert s["latency_p50_windows"] == pytest.approx((1.5 + 7.0) / 2)
    assert s["evidence_recall"] == 0.5
    assert s["rho"] == 0.05
    assert (s["lost"], s["duplicates"]) == (1, 3)
    assert s["bytes_per_device_hour"] == 25
    per = s["per_kind"]
    assert per["fall"]["recall"] == 1.0 and per["tremor"]["recall"] == 0.0  # type: ignore[index]
    assert per["fall"]["latency_p50_windows"] == 1.5  # type: ignore[index]


def test_latency_online_leaves_out_events_whose_device_was_cut_off() -> None:
    labels = [
        Label("d1", "accel", "fall", "event", 100.0, 120.0),
        Label("d1", "accel", "tremor", "event", 300.0, 330.0),
        Label("d2", "accel", "fall", "event", 50.0, 80.0),
        Label("d1", "", "partition", "device_fault", 290.0, 400.0),  # cuts off the tremor
        Label("d2", "", "reboot", "device_fault", 53.0, 60.0),  # within 2 windows of the fall
        Label("d2", "", "reconnect_storm", "device_fault", 50.0, 51.0),  # seconds: counts
    ]
    alerts = [
        _alert("d1", "accel", 101.0, 105.0, 102.0),  # 1 window late
        _alert("d1", "accel", 301.0, 330.0, 400.0),  # 50 windows late: the partition
        _alert("d2", "accel", 60.0, 70.0, 70.0),  # 10 windows late: the reboot
    ]
    window_s = {("d1", "accel"): 2.0, ("d2", "accel"): 2.0}
    s = _score(alerts, labels=labels, window_s=window_s)
    assert s["event_recall"] == 1.0 and s["events_offline_at_onset"] == 2
    assert s["latency_p95_windows"] == pytest.approx(46.0)
    assert s["latency_p95_windows_online"] == 1.0
    # a cut-off that ends before the onset leaves the event in
    early = [*labels[:3], Label("d1", "", "partition", "device_fault", 200.0, 300.0)]
    s = _score(alerts, labels=early, window_s=window_s)
    assert s["events_offline_at_onset"] == 0
    assert s["latency_p95_windows_online"] == s["latency_p95_windows"]


def test_an_alert_outside_the_tolerance_does_not_count() -> None:
    s = _score([_alert("d1", "ppg", 341.0, 345.0, 341.0)])  # t_off + 2 windows = 340
    assert s["event_recall"] == 0.0 and s["alert_precision"] == 0.0


def test_an_alert_on_all_the_time_detects_nothing() -> None:
    # one alert over the whole stream would otherwise "detect" every event on it
    s = _score([_alert("d1", "accel", 0.0, 3600.0, 0.0)])
    assert s["event_recall"] == 0.0 and s["alert_precision"] == 0.0


def test_one_alert_over_two_adjacent_events_detects_both() -> None:
    labels = [
        Label("d1", "temp", "overheat", "event", 100.0, 400.0),
        Label("d1", "temp", "drift", "sensor_fault", 450.0, 600.0),
    ]
    s = _score(
        [_alert("d1", "temp", 120.0, 650.0, 130.0)],
        labels=labels,
        window_s={("d1", "temp"): 64.0},
    )
    assert s["event_recall"] == 1.0 and s["alert_precision"] == 1.0


def test_no_alerts_is_precision_one_and_recall_zero() -> None:
    s = _score([])
    assert s["alert_precision"] == 1.0 and s["event_recall"] == 0.0
    assert s["latency_p95_windows"] is None


def test_mqtt5_sizes_match_a_hand_count() -> None:
    # PUBLISH QoS1: 1 fixed header + remaining length (1 byte below 128) + 2 + topic + 2 packet
    # id + 1 property length + payload
    assert publish_size("a/b", 10) == 1 + 1 + 2 + 3 + 2 + 1 + 10
    # remaining length 200 needs two bytes
    assert publish_size("t", 192) == 1 + 2 + 2 + 1 + 2 + 1 + 192
    assert publish_size("t", 10, qos=0) == 1 + 1 + 2 + 1 + 1 + 10
    # SUBSCRIBE: header, length, packet id, property length, topic filter (2 + n), options
    assert subscribe_size("x/y") == 1 + 1 + 2 + 1 + 2 + 3 + 1
