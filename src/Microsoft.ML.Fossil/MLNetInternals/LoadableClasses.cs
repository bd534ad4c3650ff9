// Every ML.NET component of Microsoft.ML.Fossil that mlContext.Model.Load can create is registered
// here, with its loader. ML.NET reads these attributes when a model header names this assembly
// (RegisterAssembly): if any one registration is broken, no model of this assembly loads at all, so
// the MLNetInternals tests register the assembly and load every component listed here.
//
// LoadableClass(instanceType, loaderType, argumentType, signatureType, userName, loaderSignature):
// ML.NET calls loaderType's static Create(IHostEnvironment, ModelLoadContext), which must be declared
// on loaderType itself and return exactly instanceType. Keeping Create in a loader class here lets
// the component's own class live outside MLNetInternals and touch no ML.NET internals.
using Microsoft.ML;
using Microsoft.ML.Fossil;
using Microsoft.ML.Fossil.MLNetInternals;
using Microsoft.ML.Runtime;

[assembly: LoadableClass(typeof(FossilTextClassificationTransformer), typeof(FossilTextClassificationLoader), null, typeof(SignatureLoadModel),
    "Fossil Text Classification", FossilTextClassificationTransformer.LoaderSignature)]

namespace Microsoft.ML.Fossil.MLNetInternals;

/// <summary>ML.NET's entry point for loading a <see cref="FossilTextClassificationTransformer"/>.</summary>
internal static class FossilTextClassificationLoader
{
    static FossilTextClassificationTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(ctx);
        return FossilTextClassificationTransformer.Load(FossilModelReader.Begin(ctx, FossilTextClassificationTransformer.Version));
    }
}
