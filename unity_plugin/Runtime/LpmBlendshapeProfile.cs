using System;
using System.Collections.Generic;
using Lpm;
using UnityEngine;

namespace Lpm.Unity
{
    /// <summary>
    /// How the 52 ARKit curves map onto one rig's blendshapes: explicit rows, then (optionally)
    /// an auto-map by name for the curves no row mentions.
    /// </summary>
    [CreateAssetMenu(fileName = "LpmBlendshapeProfile", menuName = "LPM/Blendshape Profile", order = 2)]
    public sealed class LpmBlendshapeProfile : ScriptableObject
    {
        [Serializable]
        public struct Row
        {
            [Tooltip("ARKit curve name, e.g. jawOpen.")]
            public string curve;
            [Tooltip("Blendshape name on the mesh.")]
            public string blendshape;
            [Tooltip("Weight per unit of the curve (Unity blendshapes usually go to 100).")]
            public float scale;
        }

        public List<Row> rows = new List<Row>();
        [Tooltip("Match the remaining curves to blendshapes by name (case, separators, prefixes and L/R spellings ignored).")]
        public bool autoMapTheRest = true;
        [Tooltip("Weight per unit of curve for auto-mapped blendshapes.")]
        public float autoMapScale = 100f;

        /// <summary>The map for a mesh with <paramref name="blendshapes"/>; rows naming unknown shapes are reported.</summary>
        public BlendshapeMap Build(IList<string> curves, IList<string> blendshapes, List<string> unmatched)
        {
            var map = new BlendshapeMap();
            foreach (var row in rows)
            {
                if (!map.BindByName(curves, blendshapes, row.curve, row.blendshape, row.scale) && unmatched != null)
                    unmatched.Add(row.curve + " -> " + row.blendshape);
            }
            if (autoMapTheRest)
                map.AutoMap(curves, blendshapes, autoMapScale);
            return map;
        }
    }
}
