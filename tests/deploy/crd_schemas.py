"""Offline schemas for the operator custom resources the chart renders.

kubernetes-validate ships only built-in kinds. These are the parts of each operator's CRD schema
(Prometheus Operator v0.77, KEDA v2.15, Strimzi 0.44, CloudNativePG 1.24) that our templates use:
required fields, types and enums, with additionalProperties closed where a typo would be silent.
"""

from __future__ import annotations

_STR = {"type": "string"}
_INT = {"type": "integer"}
_META = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _STR, "labels": {"type": "object"}, "annotations": {"type": "object"}},
}


def _cr(spec: dict) -> dict:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {"apiVersion": _STR, "kind": _STR, "metadata": _META, "spec": spec},
    }


_SELECTOR = {
    "type": "object",
    "properties": {"matchLabels": {"type": "object", "additionalProperties": _STR}},
}

SCHEMAS: dict[tuple[str, str], dict] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _cr(
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": _SELECTOR,
                "namespaceSelector": {"type": "object"},
                "jobLabel": _STR,
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": _STR,
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scheme": {"enum": ["http", "https"]},
                            "scrapeTimeout": _STR,
                        },
                    },
                },
            },
        }
    ),
    ("monitoring.coreos.com/v1", "PrometheusRule"): _cr(
        {
            "type": "object",
            "required": ["groups"],
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": _STR,
                            "interval": _STR,
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "additionalProperties": False,
                                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    "properties": {
                                        "alert": _STR,
                                        "record": _STR,
                                        "expr": {"type": "string", "minLength": 1},
                                        "for": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h|d)$"},
                                        "labels": {"type": "object", "additionalProperties": _STR},
                                        "annotations": {"type": "object", "additionalProperties": _STR},
                                    },
                                },
                            },
                        },
                    },
                }
            },
        }
    ),
    ("keda.sh/v1alpha1", "ScaledObject"): _cr(
        {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": _STR, "kind": _STR, "apiVersion": _STR},
                },
                "minReplicaCount": _INT,
                "maxReplicaCount": _INT,
                "pollingInterval": _INT,
                "cooldownPeriod": _INT,
                "advanced": {"type": "object"},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": _STR,
                            "metadata": {"type": "object", "additionalProperties": _STR},
                        },
                    },
                },
            },
        }
    ),
    ("kafka.strimzi.io/v1beta2", "Kafka"): _cr(
        {
            "type": "object",
            "required": ["kafka"],
            "properties": {
                "kafka": {
                    "type": "object",
                    "required": ["listeners"],
                    "properties": {
                        "version": _STR,
                        "listeners": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "port", "type", "tls"],
                                "properties": {
                                    "name": {"type": "string", "pattern": "^[a-z0-9]{1,11}$"},
                                    "port": _INT,
                                    "type": {
                                        "enum": [
                                            "internal",
                                            "route",
                                            "loadbalancer",
                                            "nodeport",
                                            "ingress",
                                            "cluster-ip",
                                        ]
                                    },
                                    "tls": {"type": "boolean"},
                                },
                            },
                        },
                        "config": {"type": "object"},
                    },
                },
                "entityOperator": {"type": "object"},
                "kafkaExporter": {"type": "object"},
            },
        }
    ),
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"): _cr(
        {
            "type": "object",
            "required": ["replicas", "roles", "storage"],
            "properties": {
                "replicas": _INT,
                "roles": {"type": "array", "items": {"enum": ["controller", "broker"]}},
                "storage": {"type": "object", "required": ["type"]},
            },
        }
    ),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): _cr(
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "topicName": _STR,
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {"type": "object"},
            },
        }
    ),
    ("postgresql.cnpg.io/v1", "Cluster"): _cr(
        {
            "type": "object",
            "required": ["instances", "storage"],
            "properties": {
                "instances": {"type": "integer", "minimum": 1},
                "imageName": _STR,
                "primaryUpdateStrategy": {"enum": ["supervised", "unsupervised"]},
                "storage": {"type": "object", "required": ["size"], "properties": {"size": _STR}},
                "bootstrap": {"type": "object"},
                "monitoring": {"type": "object"},
                "backup": {
                    "type": "object",
                    "properties": {
                        "retentionPolicy": {"type": "string", "pattern": "^[1-9][0-9]*[dwm]$"},
                        "barmanObjectStore": {"type": "object", "required": ["destinationPath"]},
                    },
                },
            },
        }
    ),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): _cr(
        {
            "type": "object",
            "required": ["schedule", "cluster"],
            "properties": {
                "schedule": _STR,
                "backupOwnerReference": {"enum": ["none", "self", "cluster"]},
                "cluster": {"type": "object", "required": ["name"]},
            },
        }
    ),
}
