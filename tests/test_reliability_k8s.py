"""Schema checks of the Kubernetes manifests (Kubeflow PyTorchJob with an elastic torchrun policy)."""
import os
import re

import pytest
import yaml

from harness import ROOT

MANIFESTS = ['k8s/pytorchjob.yaml', 'k8s/pytorchjob-test.yaml']
TRAIN_KEYS = set(re.findall(r'^(\w+) = ', open(os.path.join(ROOT, 'train.py')).read(), re.M))


def load(path):
    docs = list(yaml.safe_load_all(open(os.path.join(ROOT, path))))
    by_kind = {d['kind']: d for d in docs if d}
    assert set(by_kind) == {'PersistentVolumeClaim', 'PyTorchJob'}
    return by_kind


@pytest.mark.parametrize('path', MANIFESTS)
def test_pytorchjob_manifest(path):
    docs = load(path)
    job, pvc = docs['PyTorchJob'], docs['PersistentVolumeClaim']
    assert job['apiVersion'] == 'kubeflow.org/v1'
    assert 'ReadWriteMany' in pvc['spec']['accessModes']  # every node sees the data and the checkpoint

    elastic = job['spec']['elasticPolicy']
    assert elastic['rdzvBackend'] == 'c10d'
    assert 1 <= elastic['minReplicas'] <= elastic['maxReplicas']
    assert elastic['maxRestarts'] >= 1 and elastic['nProcPerNode'] >= 1
    worker = job['spec']['pytorchReplicaSpecs']['Worker']
    assert elastic['minReplicas'] <= worker['replicas'] <= elastic['maxReplicas']
    assert worker['restartPolicy'] == 'OnFailure'

    pod = worker['template']['spec']
    assert pod['terminationGracePeriodSeconds'] >= 30  # time for SIGTERM -> checkpoint
    (c,) = pod['containers']
    assert c['name'] == 'pytorch' and any(p['name'] == 'pytorchjob-port' for p in c['ports'])
    volumes = {v['name']: v for v in pod['volumes']}
    assert volumes['dshm']['emptyDir']['medium'] == 'Memory'
    mounts = {m['mountPath']: m for m in c['volumeMounts']}
    assert mounts['/dev/shm']['name'] == 'dshm'
    shared = [n for n, v in volumes.items() if 'persistentVolumeClaim' in v]
    assert [volumes[n]['persistentVolumeClaim']['claimName'] for n in shared] == [pvc['metadata']['name']]

    # the command: torchrun with as many processes as the policy says, train.py resuming automatically
    cmd = c['command']
    assert cmd[0] == 'torchrun' and f"--nproc-per-node={elastic['nProcPerNode']}" in cmd
    script = cmd.index('train.py')
    args = dict(a[2:].split('=', 1) for a in cmd[script + 1:] if a.startswith('--'))
    assert set(args) <= TRAIN_KEYS, set(args) - TRAIN_KEYS
    assert args['init_from'] == 'auto'
    for f in cmd[script + 1:]:
        if not f.startswith('--'):
            assert os.path.exists(os.path.join(ROOT, f)), f
    # out_dir and the dataset both live on the shared volume
    on_shared = [p for p, m in mounts.items() if m['name'] in shared]
    assert any(args['out_dir'].startswith(p + '/') for p in on_shared)
    config = {}
    for f in cmd[script + 1:]:
        if not f.startswith('--'):
            exec(open(os.path.join(ROOT, f)).read(), {}, config)
    dataset = config.get('dataset', 'openwebtext')
    assert any(p.endswith(f'/data/{dataset}') and p.startswith(c['workingDir']) for p in on_shared)
    # gradient accumulation must divide by every world size the job can have
    ga = int(args.get('gradient_accumulation_steps', config.get('gradient_accumulation_steps', 40)))
    for nodes in range(elastic['minReplicas'], elastic['maxReplicas'] + 1):
        assert ga % (nodes * elastic['nProcPerNode']) == 0, (ga, nodes)
