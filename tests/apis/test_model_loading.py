"""Model loading's own errors name what the caller gave (a device, a checkpoint); the command line names the flag."""
import pytest
import torch

from vnseg.apis.model_loading import load_model, resolve_device
from vnseg.commands.cli import describe_user_error
from vnseg.core.errors import DeviceError, UserError


def test_an_unknown_device_is_named_by_its_value_and_the_command_line_names_the_flag():
    assert resolve_device('cpu') == 'cpu'
    with pytest.raises(DeviceError) as err:
        resolve_device('nonsense')
    assert str(err.value) == 'nonsense: is not a torch device; use cpu, cuda or cuda:N'
    assert describe_user_error(err.value) == \
        '--device: nonsense is not a torch device; use --device cpu, cuda or cuda:N'


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA GPU is present')
def test_a_cuda_device_without_a_gpu_says_which_device_works():
    with pytest.raises(DeviceError) as err:
        resolve_device('cuda:0')
    assert str(err.value) == 'cuda:0: asked for, but this machine has no usable CUDA GPU; use cpu'
    assert describe_user_error(err.value) == \
        '--device: cuda:0 asked for, but this machine has no usable CUDA GPU; use --device cpu'


def test_a_checkpoint_and_random_weights_both_is_refused_naming_the_checkpoint(repo_root):
    with pytest.raises(UserError) as err:
        load_model(repo_root / 'configs' / 'segformer_tiny_demo_vn.py', 'weights.pth', random_weights=True)
    assert err.value.subject == 'weights.pth' and 'give one or the other' in str(err.value)
    assert '--' not in str(err.value)
