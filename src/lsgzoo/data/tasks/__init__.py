"""The long-range task suite: one generator per dependency kind, one `conf/data/<name>.yaml` each.

| config          | class                   | dependency kind                               | task type      |
|-----------------|-------------------------|-----------------------------------------------|----------------|
| `linked_pairs`  | `LinkedPairsTask`       | position-addressed retrieval (marker→payload) | seq2seq        |
| `mqar`          | `AssociativeRecallTask` | content-addressed lookup (multi-query recall) | seq2seq        |
| `majority`      | `MajorityTask`          | global aggregation (most frequent symbol)     | classification |
| `listops`       | `ListOpsTask`           | hierarchical structure (nested list ops)      | classification |
| `aclsum_needle` | `AclSumNeedleTask`      | retrieval in real long text (ACLSum bodies)   | seq2seq        |

Each module's docstring states the task's chance level, its trivial baseline and what makes it
long-range. The shared protocol and the data source are in `lsgzoo.data.tasks.base`.
"""

from lsgzoo.data.tasks.aclsum_needle import AclSumNeedleSource, AclSumNeedleTask
from lsgzoo.data.tasks.base import GeneratedTask, TaskSource
from lsgzoo.data.tasks.linked_pairs import LinkedPairsSource, LinkedPairsTask
from lsgzoo.data.tasks.listops import ListOpsSource, ListOpsTask
from lsgzoo.data.tasks.majority import MajoritySource, MajorityTask
from lsgzoo.data.tasks.mqar import AssociativeRecallSource, AssociativeRecallTask

__all__ = ["AclSumNeedleSource", "AclSumNeedleTask", "AssociativeRecallSource", "AssociativeRecallTask",
           "GeneratedTask", "LinkedPairsSource", "LinkedPairsTask", "ListOpsSource", "ListOpsTask", "MajoritySource",
           "MajorityTask", "TaskSource"]
