"""The Kubernetes manifests (k8s/*.yaml) as an operator applies them: a Kubeflow PyTorchJob with an elastic
torchrun policy, the data-preparation Job, the shared volume, and the numbers that must agree (process counts,
gradient accumulation, the global batch, the dataset's path, the image's working folder)."""
import glob
import os
import re

import pytest
import yaml

from harness import ROOT

JOBS = ['k8s/pytorchjob.yaml', 'k8s/pytorchjob-test.yaml']
TRAIN_KEYS = set(re.findall(r'^(\w+) = ', open(os.path.join(ROOT, 'train.py')).read(), re.M))
REFERENCE_BATCH = 491_520  # config/train_gpt2.py: 12 x 1024 x 40, the reference's tokens per iteration


def docs_of(path):
    return [d for d in yaml.safe_load_all(open(os.path.join(ROOT, path))) if d]


def all_docs():
    return [d for p in sorted(glob.glob(os.path.join(ROOT, 'k8s', '*.yaml'))) for d in docs_of(p)]


def pytorchjob(path):
    (job,) = [d for d in docs_of(path) if d['kind'] == 'PyTorchJob']
    return job


def train_args(cmd):
    """(config files, {key: value}) of the train.py part of a command."""
    script = cmd.index('train.py')
    rest = cmd[script + 1:]
    return [a for a in rest if not a.startswith('--')], dict(a[2:].split('=', 1) for a in rest if a.startswith('--'))


def config_of(files):
    config = {}
    for f in files:
        exec(open(os.path.join(ROOT, f)).read(), {}, config)
    return config


def procs_per_node(container):
    """What --nproc-per-node starts: a number, or (gpu) one process per GPU of the pod's resources."""
    (flag,) = [a for a in container['command'] if a.startswith('--nproc-per-node=')]
    n = flag.split('=', 1)[1]
    return int(container['resources']['limits']['nvidia.com/gpu']) if n == 'gpu' else int(n)


def dockerfile_workdir():
    return re.search(r'^WORKDIR\s+(\S+)', open(os.path.join(ROOT, 'Dockerfile')).read(), re.M).group(1)


@pytest.mark.parametrize('path', JOBS)
def test_pytorchjob_manifest(path):
    job = pytorchjob(path)
    assert job['apiVersion'] == 'kubeflow.org/v1'
    claims = {d['metadata']['name']: d for d in all_docs() if d['kind'] == 'PersistentVolumeClaim'}

    elastic = job['spec']['elasticPolicy']
    assert elastic['rdzvBackend'] == 'c10d'
    assert 1 <= elastic['minReplicas'] <= elastic['maxReplicas']
    assert elastic['maxRestarts'] >= 1
    assert 'nProcPerNode' not in elastic  # the process count is the command's alone (one place)
    worker = job['spec']['pytorchReplicaSpecs']['Worker']
    assert elastic['minReplicas'] <= worker['replicas'] <= elastic['maxReplicas']
    assert worker['restartPolicy'] == 'OnFailure'

    pod = worker['template']['spec']
    assert pod['terminationGracePeriodSeconds'] >= 30  # time for SIGTERM -> checkpoint
    (c,) = pod['containers']
    assert c['name'] == 'pytorch' and any(p['name'] == 'pytorchjob-port' for p in c['ports'])
    assert c['workingDir'] == dockerfile_workdir()  # the command's relative paths are the image's files
    volumes = {v['name']: v for v in pod['volumes']}
    assert volumes['dshm']['emptyDir']['medium'] == 'Memory'
    mounts = {m['mountPath']: m for m in c['volumeMounts']}
    assert mounts['/dev/shm']['name'] == 'dshm'
    shared = [n for n, v in volumes.items() if 'persistentVolumeClaim' in v]
    for n in shared:  # the claim is one of the manifests', ReadWriteMany: every node sees data and checkpoint
        claim = claims[volumes[n]['persistentVolumeClaim']['claimName']]
        assert 'ReadWriteMany' in claim['spec']['accessModes']
    # nothing is mounted over the image's own folder (a subPath over data/NAME hides its prepare.py)
    assert not any(p == c['workingDir'] or p.startswith(c['workingDir'] + '/') for p in mounts)

    # the command: torchrun, train.py resuming automatically, known keys, existing config files
    cmd = c['command']
    assert cmd[0] == 'torchrun'
    files, args = train_args(cmd)
    assert set(args) <= TRAIN_KEYS, set(args) - TRAIN_KEYS
    assert args['init_from'] == 'auto'
    assert files and all(os.path.exists(os.path.join(ROOT, f)) for f in files)
    # out_dir on the shared volume; the dataset is a path on a mounted volume
    assert any(args['out_dir'].startswith(p + '/') for p, m in mounts.items() if m['name'] in shared)
    assert any(args['dataset'].startswith(p + '/') for p in mounts if p != '/dev/shm')


@pytest.mark.parametrize('path', JOBS)
def test_global_batch_is_the_configs_at_every_world_size(path):
    """gradient_accumulation_steps is the total over all processes: it must divide by every world size the
    elastic job can have (train.py refuses otherwise), and the tokens per iteration must stay the config's."""
    job = pytorchjob(path)
    elastic = job['spec']['elasticPolicy']
    (c,) = job['spec']['pytorchReplicaSpecs']['Worker']['template']['spec']['containers']
    files, args = train_args(c['command'])
    config = config_of(files)
    get = lambda k: int(args.get(k, config.get(k)))  # noqa: E731
    per_node = procs_per_node(c)
    ga = get('gradient_accumulation_steps')
    for nodes in range(elastic['minReplicas'], elastic['maxReplicas'] + 1):
        assert ga % (nodes * per_node) == 0, (ga, nodes, per_node)
    tokens = ga * get('batch_size') * get('block_size')
    assert tokens == (config['gradient_accumulation_steps'] * config['batch_size'] * config['block_size'])
    if 'train_gpt2' in ' '.join(files):
        assert tokens == REFERENCE_BATCH


def test_gpu_count_has_one_place():
    """GPUs per node are set once, in the pod's resources; torchrun derives the process count from them."""
    job = pytorchjob('k8s/pytorchjob.yaml')
    (c,) = job['spec']['pytorchReplicaSpecs']['Worker']['template']['spec']['containers']
    assert '--nproc-per-node=gpu' in c['command'] and 'nProcPerNode' not in job['spec']['elasticPolicy']
    assert 'nprocPerNode' not in job['spec']
    assert str(c['resources']['limits']['nvidia.com/gpu']) in ('1', '2', '4', '8')
    text = open(os.path.join(ROOT, 'k8s', 'pytorchjob.yaml')).read()
    assert len(re.findall(r'nvidia\.com/gpu:', text)) == 1


def test_prepare_job_writes_where_training_reads():
    """k8s/prepare-openwebtext.yaml runs data/openwebtext/prepare.py into the folder the PyTorchJob trains on,
    on the same volume, with the same image."""
    (prep,) = docs_of('k8s/prepare-openwebtext.yaml')
    assert prep['kind'] == 'Job' and prep['apiVersion'] == 'batch/v1'
    pod = prep['spec']['template']['spec']
    assert pod['restartPolicy'] in ('Never', 'OnFailure')
    (c,) = pod['containers']
    assert c['workingDir'] == dockerfile_workdir()
    script = ' '.join(c['command'])
    m = re.search(r'python (data/openwebtext/prepare\.py) .*--out_dir=(\S+)', script)
    assert m and os.path.exists(os.path.join(ROOT, m.group(1)))
    assert "'--out_dir'" in open(os.path.join(ROOT, m.group(1))).read()

    job = pytorchjob('k8s/pytorchjob.yaml')
    train_pod = job['spec']['pytorchReplicaSpecs']['Worker']['template']['spec']
    (tc,) = train_pod['containers']
    assert train_args(tc['command'])[1]['dataset'] == m.group(2)
    assert c['image'] == tc['image']
    claim = lambda p, mount: next(v['persistentVolumeClaim']['claimName'] for v in p['volumes']  # noqa: E731
                                  if v['name'] == mount['name'])
    (pm,) = [x for x in c['volumeMounts'] if m.group(2).startswith(x['mountPath'] + '/')]
    (tm,) = [x for x in tc['volumeMounts'] if m.group(2).startswith(x['mountPath'] + '/')]
    assert pm['mountPath'] == tm['mountPath'] and claim(pod, pm) == claim(train_pod, tm)
    assert any(d['kind'] == 'PersistentVolumeClaim' and d['metadata']['name'] == claim(pod, pm) for d in all_docs())


def test_test_job_prepares_its_data_in_the_pod():
    pod = pytorchjob('k8s/pytorchjob-test.yaml')['spec']['pytorchReplicaSpecs']['Worker']['template']['spec']
    (init,) = pod['initContainers']
    (c,) = pod['containers']
    dataset = train_args(c['command'])[1]['dataset']
    script = ' '.join(init['command'])
    prepare = re.search(r'python (data/\w+/prepare\.py)', script).group(1)
    assert os.path.exists(os.path.join(ROOT, prepare))
    name = prepare.split('/')[1]
    assert f'cp -r data/{name} /data/' in script and dataset == f'/data/{name}'
    data_mount = lambda cont: next(m['name'] for m in cont['volumeMounts'] if m['mountPath'] == '/data')  # noqa: E731
    assert data_mount(init) == data_mount(c) and init['image'] == c['image']


def test_images_are_placeholders_the_docs_explain():
    images = {c['image'] for d in all_docs() if d['kind'] in ('Job', 'PyTorchJob')
              for c in _containers(d)}
    doc = open(os.path.join(ROOT, 'docs', 'kubernetes.md')).read()
    for image in images:
        assert image.startswith('YOUR_REGISTRY/nanogpt:'), image
        assert image in doc, image


def _containers(d):
    spec = d['spec']['template']['spec'] if d['kind'] == 'Job' else \
        d['spec']['pytorchReplicaSpecs']['Worker']['template']['spec']
    return spec.get('initContainers', []) + spec['containers']
