"""The labeling engine: superpixel / supervoxel hierarchies, edit operations, and the
simulated annotator that measures labeling effort.

Pure numpy at its core; superpixels, supervoxels and the simulator use scikit-image and
scipy (``pip install 'panokit[annotate]'``), imported only when called.
"""

from panokit.annotate.edits import (
    EDIT_TYPES,
    BoxSelect,
    Brush,
    ChangeCategory,
    ClickRegion,
    ClickSupervoxel,
    Delete,
    Edit,
    EditContext,
    Erase,
    FillUnlabeled,
    LassoSelect,
    Merge,
    Patch,
    Polygon,
    RemoveGround,
    Split,
    apply_edit,
    edit_from_dict,
    edit_to_dict,
    resolve_target,
)
from panokit.annotate.quality import PQScorer, panoptic_quality
from panokit.annotate.simulate import TOOLSETS, CostModel, SimulationResult, Simulator, simulate
from panokit.annotate.superpixels import (
    LevelQuality,
    SuperpixelHierarchy,
    achievable_accuracy,
    boundary_recall,
    build_superpixel_hierarchy,
    hierarchy_quality,
    undersegmentation_error,
)
from panokit.annotate.supervoxels import (
    SupervoxelHierarchy,
    build_supervoxel_hierarchy,
    fit_ground_plane,
)

__all__ = [
    "EDIT_TYPES",
    "TOOLSETS",
    "BoxSelect",
    "Brush",
    "ChangeCategory",
    "ClickRegion",
    "ClickSupervoxel",
    "CostModel",
    "Delete",
    "Edit",
    "EditContext",
    "Erase",
    "FillUnlabeled",
    "LassoSelect",
    "LevelQuality",
    "Merge",
    "PQScorer",
    "Patch",
    "Polygon",
    "RemoveGround",
    "SimulationResult",
    "Simulator",
    "Split",
    "SuperpixelHierarchy",
    "SupervoxelHierarchy",
    "achievable_accuracy",
    "apply_edit",
    "boundary_recall",
    "build_superpixel_hierarchy",
    "build_supervoxel_hierarchy",
    "edit_from_dict",
    "edit_to_dict",
    "fit_ground_plane",
    "hierarchy_quality",
    "panoptic_quality",
    "resolve_target",
    "simulate",
    "undersegmentation_error",
]
