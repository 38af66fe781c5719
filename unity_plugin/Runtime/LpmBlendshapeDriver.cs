using System.Collections.Generic;
using Lpm;
using UnityEngine;

namespace Lpm.Unity
{
    /// <summary>
    /// Drives a SkinnedMeshRenderer's blendshapes from an LpmNpcFace's 61 curves (the 52 ARKit
    /// blendshapes; head and eye angles are left to bones), through a mapping profile or the
    /// name auto-map. Runs in LateUpdate, after the face has picked the frame for this render.
    /// </summary>
    [AddComponentMenu("LPM/LPM Blendshape Driver")]
    public sealed class LpmBlendshapeDriver : MonoBehaviour
    {
        public LpmNpcFace face;
        public SkinnedMeshRenderer target;
        [Tooltip("Explicit mapping; empty = auto-map every curve by name.")]
        public LpmBlendshapeProfile profile;
        [Tooltip("Weight per unit of curve when auto-mapping without a profile.")]
        public float weightScale = 100f;

        BlendshapeMap _map;
        float[] _weights;
        Mesh _mappedMesh;

        /// <summary>Bindings in use (after the first LateUpdate).</summary>
        public BlendshapeMap Map
        {
            get { return _map; }
        }

        /// <summary>Rebuilds the mapping (after changing the mesh or the profile).</summary>
        public void Remap()
        {
            _mappedMesh = null;
        }

        void LateUpdate()
        {
            if (face == null || target == null || target.sharedMesh == null || face.Performer == null)
                return;
            if (_mappedMesh != target.sharedMesh)
                Build(target.sharedMesh);
            _map.Apply(face.Curves, _weights);
            foreach (var binding in _map.Bindings)
                target.SetBlendShapeWeight(binding.Target, _weights[binding.Target]);
        }

        void Build(Mesh mesh)
        {
            var names = new string[mesh.blendShapeCount];
            for (int i = 0; i < names.Length; i++)
                names[i] = mesh.GetBlendShapeName(i);
            string[] curves = NativeAbi.CurveNames;
            var unmatched = new List<string>();
            if (profile != null)
            {
                _map = profile.Build(curves, names, unmatched);
            }
            else
            {
                _map = new BlendshapeMap();
                _map.AutoMap(curves, names, weightScale);
            }
            if (unmatched.Count > 0)
                Debug.LogWarning("LpmBlendshapeDriver: profile rows without a match: " + string.Join(", ", unmatched.ToArray()), this);
            _weights = new float[names.Length];
            _mappedMesh = mesh;
        }
    }
}
