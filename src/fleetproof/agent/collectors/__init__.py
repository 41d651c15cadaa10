"""Collectors: one per backend (NVIDIA, AMD, Intel Gaudi and Data Center GPU Max, Huawei Ascend,
Cambricon, Hygon, Moore Threads, Kunlunxin, Iluvatar, MetaX, Enflame, the host, simulated).

The interface and readings are in :mod:`.base`; the list of built-ins and the registry in
:mod:`.registry`. This package module imports nothing, so importing one collector does not
import them all.
"""
