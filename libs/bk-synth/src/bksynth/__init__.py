"""Synthetic kitchens for Bright Kitchen: random training frames and scripted camera scenarios."""

from bksynth.effects import Camera
from bksynth.frame import STYLES, render_random
from bksynth.generators import GENERATORS, HELDOUT, heldout
from bksynth.people import PersonLook
from bksynth.scenarios import ZONES, demo_scenarios
from bksynth.timeline import Actor, Change, Scenario, Violation
from bksynth.truth import LABELS, PERSON_ATTRIBUTES, Annotation

__all__ = [
    "GENERATORS",
    "HELDOUT",
    "LABELS",
    "PERSON_ATTRIBUTES",
    "STYLES",
    "ZONES",
    "Actor",
    "Annotation",
    "Camera",
    "Change",
    "PersonLook",
    "Scenario",
    "Violation",
    "demo_scenarios",
    "heldout",
    "render_random",
]
