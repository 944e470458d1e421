"""Powertools Logger, Tracer and Metrics shared by every function (one namespace, one service name)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "modelrelay"
NAMESPACE = "ModelRelay"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
