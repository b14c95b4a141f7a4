"""The notifications the fake queue serves and the checks expect: index
i gives a fixed id and a real BuildLifecycleEventNotification payload,
the four kinds in turn.  Needs the generated *_pb2 modules on sys.path."""
import uuid

from engflow.eventstore.v1 import notifications_pb2 as ev
from engflow.notification.v1 import notification_pb2 as npb

KINDS = ["BuildStarted", "InvocationStarted", "InvocationFinished",
         "BuildFinished"]


def nid(i):
    return "00000000-0000-4000-8000-%012d" % i


def build_id(i):
    return "b/%s" % uuid.UUID(int=i + 1000)


def invocation_id(i):
    return str(uuid.UUID(int=i + 5000))


def notification(i):
    p = ev.BuildLifecycleEventNotification()
    p.instance_name = "default"
    p.build_id = build_id(i)
    kind = i % 4
    if kind == 0:
        p.build_started.SetInParent()
        p.keywords.append("command_name=build")
    elif kind == 1:
        p.invocation_started.invocation_id = invocation_id(i)
        p.keywords.append("command_name=test")
    elif kind == 2:
        p.invocation_finished.invocation_id = invocation_id(i)
        p.keywords.append("protocol_name=BEP")
    else:
        p.build_finished.SetInParent()
    n = npb.Notification()
    n.id = nid(i)
    n.timestamp.seconds = 1700000000 + i
    n.timestamp.nanos = 5000
    n.payload.Pack(p)
    return n
